"""Clip windows -> action probabilities; and the code that trains and judges the action model."""

from recognizer.base import ActionRecognizer, FrameBuffer, WindowPrediction
from recognizer.kinematic import KinematicRecognizer
from recognizer.labels import SPACEJAM_LABELS

__all__ = ["ActionRecognizer", "FrameBuffer", "KinematicRecognizer", "SPACEJAM_LABELS", "WindowPrediction"]
