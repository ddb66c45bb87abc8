"""Streaming orchestration: decode -> detect -> track -> recognise -> render -> encode, plus exports and CLIs."""
