"""Package data: ``manifest.json``, the weights files the project knows (name, sha256, labels).

No weights file is shipped here (see README.md); the manifest is installed with the package so that a
non-editable ``pip install`` checks downloads the same way a checkout does.
"""
