"""Person (and ball) detection with any ultralytics YOLO weights file."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import supervision as sv
import torch
import torch.nn.functional as F

from tracker.common.coco import PERSON, SPORTS_BALL
from tracker.common.errors import UsageError, WeightsError
from tracker.common.weights import verify_weights

#: COCO class ids used here.

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
        ball_conf: minimum confidence for the ball (small and blurred: scores run low).
        engine: ``"ultralytics"`` (``YOLO.predict``: any weights format, CPU pre/post-processing),
            ``"tensor"`` (PyTorch weights only: letterbox, normalisation, forward and NMS on the
            device, frames given as tensors already there: the GPU fast path), or ``"auto"``
            (``"tensor"`` for PyTorch weights on CUDA, else ``"ultralytics"``).
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
        engine: str = "auto",
        ball_conf: float = 0.1,
    ) -> None:
        logging.getLogger("ultralytics").setLevel(logging.WARNING)
        self.weights = str(weights)
        self.model = _load_yolo(self.weights)
        self.conf, self.iou, self.imgsz = conf, iou, imgsz
        self.device, self.half = device, half
        self.classes = [PERSON, SPORTS_BALL] if ball else [PERSON]
        self.ball_conf = ball_conf
        self._min_conf = min(conf, ball_conf) if ball else conf
        is_torch = isinstance(self.model.model, torch.nn.Module)
        if engine == "auto":
            engine = "tensor" if is_torch and str(device or "").startswith("cuda") else "ultralytics"
        if engine not in ("ultralytics", "tensor"):
            raise UsageError(None, f"unknown detector engine {engine!r}")
        if engine == "tensor" and not is_torch:
            raise UsageError(weights, "the tensor (GPU fast path) engine needs PyTorch weights (.pt or .yaml)")
        self.engine = engine
        self.accepts_tensors = engine == "tensor"
        if engine == "tensor":
            dev = torch.device(device or "cpu")
            self._net = self.model.model.to(dev).eval()
            self._net = self._net.fuse() if hasattr(self._net, "fuse") else self._net
            self._net = self._net.half() if half and dev.type == "cuda" else self._net.float()
            self._dtype = torch.float16 if half and dev.type == "cuda" else torch.float32
            self._stride = int(max(int(self._net.stride.max()), 32))
            self._device = dev

    def __call__(self, frames: Sequence[np.ndarray]) -> list[sv.Detections]:
        """Detect in a batch of ``(H, W, 3)`` uint8 BGR frames; one ``sv.Detections`` per frame."""
        if not len(frames):
            return []
        if self.engine == "tensor":
            return self.detect_tensors(
                [torch.from_numpy(np.ascontiguousarray(f[..., ::-1])).permute(2, 0, 1) for f in frames]
            )
        options = {"half": True} if self.half else {}  # ultralytics warns on half=False for some formats
        results = self.model.predict(
            list(frames),
            conf=self._min_conf,
            iou=self.iou,
            imgsz=self.imgsz,
            classes=self.classes,
            device=self.device,
            verbose=False,
            **options,
        )
        return [self._thresholds(sv.Detections.from_ultralytics(r)) for r in results]

    def _thresholds(self, dets: sv.Detections) -> sv.Detections:
        """People at ``conf``, the ball at ``ball_conf`` (one forward pass ran at the lower of the two)."""
        if self._min_conf == self.conf or not len(dets):
            return dets
        need = np.where(dets.class_id == SPORTS_BALL, self.ball_conf, self.conf)
        return dets[dets.confidence >= need]

    def _letterbox(self, batch: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` uint8 -> ``(B, 3, h, w)`` model input, exactly as ultralytics' ``LetterBox``
        (scale to fit ``imgsz``, pad with 114 to a multiple of the stride, centred), on the device."""
        h0, w0 = batch.shape[-2:]
        r = min(self.imgsz / h0, self.imgsz / w0)
        nw, nh = max(round(w0 * r), 1), max(round(h0 * r), 1)
        dw, dh = (self.imgsz - nw) % self._stride / 2, (self.imgsz - nh) % self._stride / 2
        x = batch.float()
        if (nh, nw) != (h0, w0):
            # cv2.INTER_LINEAR on uint8 == bilinear with half-pixel centres, rounded to integers
            x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False).round_().clamp_(0, 255)
        pad = (round(dw - 0.1), round(dw + 0.1), round(dh - 0.1), round(dh + 0.1))
        x = F.pad(x, pad, value=114.0)
        return (x / 255.0).to(self._dtype)

    @torch.inference_mode()
    def detect_tensors(self, frames: Sequence[torch.Tensor]) -> list[sv.Detections]:
        """Detect in ``(3, H, W)`` uint8 RGB tensors of one size (on any device; moved to the model's).

        The GPU fast path: the frames are uploaded once (the pipeline's frame buffer) and
        never come back to the CPU; only the boxes do.
        """
        from ultralytics.utils.nms import non_max_suppression
        from ultralytics.utils.ops import scale_boxes

        if not len(frames):
            return []
        if self.engine != "tensor":
            return self([f.permute(1, 2, 0).flip(-1).cpu().numpy() for f in frames])
        batch = torch.stack([f.to(self._device, non_blocking=True) for f in frames])
        x = self._letterbox(batch)
        preds = self._net(x)
        preds = preds[0] if isinstance(preds, (list, tuple)) else preds
        out = non_max_suppression(preds, self._min_conf, self.iou, classes=self.classes, max_det=300)
        shape = tuple(batch.shape[-2:])
        results = []
        for det in out:
            det[:, :4] = scale_boxes(x.shape[2:], det[:, :4], shape)
            det = det.float().cpu().numpy()
            results.append(self._thresholds(sv.Detections(
                xyxy=det[:, :4].astype(np.float32), confidence=det[:, 4].astype(np.float32),
                class_id=det[:, 5].astype(int))))
        return results
