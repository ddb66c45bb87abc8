"""COCO class ids the project uses (YOLO models trained on COCO-80 number them this way)."""

PERSON = 0
SPORTS_BALL = 32
