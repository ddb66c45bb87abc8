"""Person (and ball) detection with any ultralytics YOLO weights file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import supervision as sv
import torch
import torch.nn.functional as F

from tracker.common.chatter import quiet_libraries
from tracker.common.checks import check_range
from tracker.common.coco import PERSON, SPORTS_BALL, model_classes
from tracker.common.device import resolve_device
from tracker.common.errors import UsageError, WeightsError
from tracker.common.weights import verify_weights

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
        conf: minimum person confidence, in ``[0, 1]``. Lower finds more partly hidden or blurred
            players but also more false people (spectators' heads, reflections); higher the reverse.
        iou: NMS IoU threshold, in ``[0, 1]``. Lower merges overlapping boxes more eagerly (two
            players in a screen may become one); higher keeps more duplicates of one player.
        imgsz: inference size in pixels (longest side), a multiple of 32 from 32 to 4096. Larger
            finds smaller (far) players and the ball at a cost growing with its square; smaller is faster.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:0"`` ... (see
            :func:`tracker.common.device.resolve_device`); :class:`~pipeline.core.Pipeline` moves the
            detector to the run's device with :meth:`to`.
        half: float16 inference (CUDA only; ignored on the CPU).
        ball: also return the ball (``class_id == SPORTS_BALL``).

    The model's classes are read by name (:func:`tracker.common.coco.model_classes`): COCO's
    ``person`` / ``sports ball``, or a basketball model's ``player`` / ``referee`` / ``ball`` /
    ``basketball`` (other classes, a rim for instance, are not used); detections come out numbered
    :data:`~tracker.common.coco.PERSON` / :data:`~tracker.common.coco.SPORTS_BALL` either way.
    Weights with no person class are refused (:class:`WeightsError`); weights with no ball class
    give no ball rows (the ball finder still looks by colour and motion).
        ball_conf: minimum ball confidence, in ``[0, 1]`` (small and blurred: scores run low). Lower
            finds the ball in more frames and more false balls (heads, shoes); the ball tracker gates them.
        engine: ``"ultralytics"`` (``YOLO.predict``: any weights format, CPU pre/post-processing),
            ``"tensor"`` (PyTorch weights only: letterbox, normalisation, forward and NMS on the
            device, frames given as tensors already there: the GPU fast path), or ``"auto"``
            (``"tensor"`` for PyTorch weights on CUDA, else ``"ultralytics"``).
        verbose: let ultralytics and the TFLite runtime print while loading and first running the
            model (by default they are silenced for that scope only; see :mod:`tracker.common.chatter`).
        threads: CPU worker threads of the weights' runtime (LiteRT, ONNX Runtime, OpenVINO; see
            :mod:`tracker.tracking.runtimes`); ``None`` leaves ultralytics' choice. ultralytics makes
            the session on the first call, which therefore runs with its choice; the session is then
            rebuilt with ``threads`` (:attr:`runtime` names the runtime from then on).
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
        verbose: bool = False,
        threads: int | None = None,
    ) -> None:
        check_range("conf", conf, 0.0, 1.0)
        check_range("iou", iou, 0.0, 1.0)
        check_range("ball_conf", ball_conf, 0.0, 1.0)
        check_range("imgsz", imgsz, 32, 4096)
        if int(imgsz) != imgsz or imgsz % 32:
            raise ValueError(f"imgsz must be a multiple of 32 between 32 and 4096, got {imgsz}")
        if engine not in ("auto", "ultralytics", "tensor"):
            raise UsageError(None, f"unknown detector engine {engine!r}")
        self.weights = str(weights)
        self.verbose = verbose
        with quiet_libraries(enabled=not verbose):
            self.model = _load_yolo(self.weights)
            names = dict(self.model.names)  # exported weights: reading the names loads the runtime, which talks
        self.conf, self.iou, self.imgsz = conf, iou, int(imgsz)
        self.half = half
        mapped = model_classes(names)
        if mapped is None:
            shown = ", ".join(str(n) for n in list(names.values())[:8])
            more = ", ..." if len(names) > 8 else ""
            raise WeightsError(self.weights, f"no person class among the model's classes ({shown}{more}); "
                               "the detector needs one named person or player")
        self.person_ids, self.ball_ids = mapped
        self.classes = self.person_ids + (self.ball_ids if ball else [])
        self._to_ours = {**{i: PERSON for i in self.person_ids}, **{i: SPORTS_BALL for i in self.ball_ids}}
        self.ball_conf = ball_conf
        self._min_conf = min(conf, ball_conf) if ball and self.ball_ids else conf
        self._engine_asked = engine
        self._warm = False
        self.threads = None if threads is None else max(1, int(threads))
        self.runtime = "pytorch" if isinstance(self.model.model, torch.nn.Module) else None  # else known once run
        self._sized = None  # the ultralytics backend whose runtime got ``threads``
        self.to(device)

    def to(self, device: str | None) -> Detector:
        """Run on ``device`` from now on (resolved by :func:`~tracker.common.device.resolve_device`);
        picks the engine anew (``"auto"``: the tensor engine for PyTorch weights on CUDA)."""
        device = resolve_device(device)
        is_torch = isinstance(self.model.model, torch.nn.Module)
        engine = self._engine_asked
        if engine == "auto":
            engine = "tensor" if is_torch and device.startswith("cuda") else "ultralytics"
        if engine == "tensor" and not is_torch:
            raise UsageError(self.weights, "the tensor (GPU fast path) engine needs PyTorch weights (.pt or .yaml)")
        self.device, self.engine = device, engine
        self.accepts_tensors = engine == "tensor"
        if engine == "tensor":
            dev = torch.device(device)
            half = self.half and dev.type == "cuda"
            self._net = self.model.model.to(dev).eval()
            self._net = self._net.fuse() if hasattr(self._net, "fuse") else self._net
            self._net = self._net.half() if half else self._net.float()
            self._dtype = torch.float16 if half else torch.float32
            self._stride = int(max(int(self._net.stride.max()), 32))
            self._device = dev
        return self

    def __call__(self, frames: Sequence[np.ndarray]) -> list[sv.Detections]:
        """Detect in a batch of ``(H, W, 3)`` uint8 BGR frames; one ``sv.Detections`` per frame."""
        if not len(frames):
            return []
        if self.engine == "tensor":
            return self.detect_tensors(
                [torch.from_numpy(np.ascontiguousarray(f[..., ::-1])).permute(2, 0, 1) for f in frames]
            )
        options = {"half": True} if self.half and self.device.startswith("cuda") else {}
        with quiet_libraries(enabled=not (self._warm or self.verbose)):  # the first call builds the runtime, which talks
            results = self._predict(frames, options)
        self._warm = True
        self._size_runtime()
        return [self._thresholds(self._ours(sv.Detections.from_ultralytics(r))) for r in results]

    def _size_runtime(self) -> None:
        """Give the runtime ultralytics built on its first prediction (again after a device change)
        ``threads`` workers: its session is rebuilt once (:func:`tracker.tracking.runtimes.set_threads`)."""
        backend = getattr(getattr(self.model.predictor, "model", None), "backend", None)
        if self.threads is None or backend is None or backend is self._sized:
            return
        from tracker.tracking.runtimes import set_threads

        with quiet_libraries(enabled=not self.verbose):
            self.runtime = set_threads(backend, self.weights, self.threads)
        self._sized = backend

    def _predict(self, frames: Sequence[np.ndarray], options: dict):
        return self.model.predict(
            list(frames),
            conf=self._min_conf,
            iou=self.iou,
            imgsz=self.imgsz,
            classes=self.classes,
            device=self.device,
            verbose=False,
            **options,
        )

    def _ours(self, dets: sv.Detections) -> sv.Detections:
        """The model's class ids -> :data:`PERSON` / :data:`SPORTS_BALL` (``data["class_name"]`` dropped:
        it is the model's name for the class)."""
        if len(dets):
            dets.class_id = np.array([self._to_ours[int(c)] for c in dets.class_id], dtype=int)
        dets.data.pop("class_name", None)
        return dets

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
            results.append(self._thresholds(self._ours(sv.Detections(
                xyxy=det[:, :4].astype(np.float32), confidence=det[:, 4].astype(np.float32),
                class_id=det[:, 5].astype(int)))))
        return results
