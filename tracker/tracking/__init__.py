"""Detect and track: frames -> person (and ball) detections -> tracked IDs -> per-player tubes and clip windows."""
