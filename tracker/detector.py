"""Person (and ball) detection with any ultralytics YOLO weights file."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import supervision as sv

from tracker.errors import WeightsError
from tracker.weights import verify_weights

#: COCO class ids used here.
PERSON = 0
SPORTS_BALL = 32

#: What ultralytics fetches by itself for users with internet.
DEFAULT_WEIGHTS = "yolov8n.pt"

_FIX = "pass --weights PATH to a YOLO weights file (.pt, .onnx, .engine, .tflite, or a model .yaml)"


def _load_yolo(weights: str):
    from ultralytics import YOLO

    path = Path(weights)
    is_hub_name = path.parent == Path(".") and not path.exists() and path.suffix in {".pt", ".yaml", ".yml"}
    if not is_hub_name and not path.exists():
        raise WeightsError(weights, f"detector weights not found; {_FIX}")
    if path.is_file() and path.suffix not in {".yaml", ".yml"}:
        verify_weights(path)
    if path.suffix == ".tflite":
        try:
            import ai_edge_litert  # noqa: F401
        except ImportError:
            try:
                import tflite_runtime  # noqa: F401
            except ImportError:
                raise WeightsError(weights, "TFLite weights need the LiteRT runtime: pip install ai-edge-litert") from None
    try:
        return YOLO(weights, task="detect")
    except (FileNotFoundError, ConnectionError, OSError) as exc:
        if is_hub_name:
            raise WeightsError(
                weights, f"could not download the default detector (offline?); {_FIX}"
            ) from None
        raise WeightsError(weights, f"cannot load detector weights ({type(exc).__name__}: {exc})") from None
    except Exception as exc:  # ultralytics raises assorted types on a corrupt file
        raise WeightsError(weights, f"not a loadable YOLO weights file ({type(exc).__name__}: {str(exc)[:160]})") from None


class Detector:
    """Batched YOLO inference returning people (and optionally the ball) as ``sv.Detections``.

    Args:
        weights: any weights file ultralytics loads (.pt, .onnx, .engine, .tflite, saved_model,
            or a model ``.yaml`` for random weights). ``yolov8n.pt`` is downloaded by ultralytics
            when absent and the machine is online.
        conf: minimum confidence.
        iou: NMS IoU threshold.
        imgsz: inference size (pixels, longest side).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:0"`` ... (ultralytics' default when ``None``).
        half: float16 inference (CUDA).
        ball: also return COCO "sports ball" detections (``class_id == SPORTS_BALL``).
    """

    def __init__(
        self,
        weights: str | Path = DEFAULT_WEIGHTS,
        conf: float = 0.25,
        iou: float = 0.45,
        imgsz: int = 640,
        device: str | None = None,
        half: bool = False,
        ball: bool = False,
    ) -> None:
        logging.getLogger("ultralytics").setLevel(logging.WARNING)
        self.weights = str(weights)
        self.model = _load_yolo(self.weights)
        self.conf, self.iou, self.imgsz = conf, iou, imgsz
        self.device, self.half = device, half
        self.classes = [PERSON, SPORTS_BALL] if ball else [PERSON]

    def __call__(self, frames: Sequence[np.ndarray]) -> list[sv.Detections]:
        """Detect in a batch of ``(H, W, 3)`` uint8 BGR frames; one ``sv.Detections`` per frame."""
        if not len(frames):
            return []
        options = {"half": True} if self.half else {}  # ultralytics warns on half=False for some formats
        results = self.model.predict(
            list(frames),
            conf=self.conf,
            iou=self.iou,
            imgsz=self.imgsz,
            classes=self.classes,
            device=self.device,
            verbose=False,
            **options,
        )
        return [sv.Detections.from_ultralytics(r) for r in results]
