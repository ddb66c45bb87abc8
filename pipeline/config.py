"""Typed options that describe a :class:`~pipeline.core.Pipeline`, and the one place that builds it.

A :class:`PipelineConfig` is plain data (picklable, JSON-able): the CLI fills one from its flags,
a Python user writes one, and a folder batch ships one to each Ray task, which builds its own
pipeline from it. Ranges are checked when it is made, so a bad value fails before any model loads.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from tracker.common.checks import check_range

TRACKERS = ("bytetrack", "sort")
ACTIONS = ("auto", "kinematic", "context")
CONTEXT_MODES = ("ball-roles", "checkpoint")  # recognizer.context.MODES


@dataclass(frozen=True)
class PipelineConfig:
    """How to build a pipeline (see :class:`~pipeline.core.Pipeline` and
    :class:`~tracker.tracking.detector.Detector` for what each knob does).

    Attributes:
        weights: YOLO weights (.pt, .onnx, .engine, .tflite, or a model .yaml).
        tracker: ``"bytetrack"`` or ``"sort"``.
        actions: ``"auto"`` (default: ``"context"`` when ``ball`` is on, else ``"kinematic"``),
            ``"context"`` (the game-context recogniser: dribble, ball in hand, pass, shoot, defense from
            the ball and possession, kinematic speed for everyone else; needs ``ball``) or
            ``"kinematic"`` (run / walk / no_action from camera-compensated speed only). Measured
            against hand labels in docs/benchmarks.md (``bench/actions_vs_labels.py``).
        action_model: an R(2+1)D checkpoint path, or ``None``.
        context_mode: with ``action_model`` and the game context (``actions`` ``"context"``, or ``"auto"`` with the ball), how the checkpoint and the game context
            combine: ``"ball-roles"`` (context labels for the ball handler, passer, shooter and nearest
            defender, the checkpoint for everyone else) or ``"checkpoint"`` (the checkpoint alone).
        conf, iou: detector thresholds in ``[0, 1]``.
        imgsz: detector input size, a multiple of 32 in ``[32, 4096]``.
        stride: frames between clip windows (``None``: the recogniser's).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` -- for the whole run.
        half: float16 on CUDA.
        batch_size: frames per detector call.
        compile: ``torch.compile`` the action model (CUDA).
        all_people, teams, ball: who-is-playing switches (see :class:`~pipeline.core.Pipeline`).
        detect_every: run the detector on every N-th frame, boxes predicted between
            (:mod:`tracker.tracking.keyframes`); ``None``: 1 on a GPU, 3 on a CPU
            (:func:`~tracker.tracking.keyframes.default_detect_every`).
        cores: CPU cores the run may use, for the thread rule (:class:`~pipeline.threads.ThreadPlan`,
            applied by :meth:`build`); ``None``: the cores this process may run on.
        progress: a tqdm bar per video.
        verbose: let libraries print what they print while loading models (``--debug``).
        export_clips: a folder to export the recognised windows to as training clips, or ``None``
            (see :mod:`pipeline.clip_export`); ``export_every``: keep every N-th window per player;
            ``export_overwrite``: replace the clips of a video exported before.
        ball_net: a ball heatmap net file (``python -m tracker.game.ball.net_train``), experimental,
            or ``None``; needs ``ball``.
    """

    weights: str = "yolov8n.pt"
    tracker: str = "bytetrack"
    action_model: str | None = None
    actions: str = "auto"
    context_mode: str = "ball-roles"
    conf: float = 0.25
    iou: float = 0.45
    imgsz: int = 640
    stride: int | None = None
    device: str = "auto"
    half: bool = False
    batch_size: int = 8
    compile: bool = False
    all_people: bool = False
    teams: bool = True
    ball: bool = True
    detect_every: int | None = None
    cores: int | None = None
    progress: bool = False
    verbose: bool = False
    export_clips: str | None = None
    export_every: int = 1
    export_overwrite: bool = False
    ball_net: str | None = None

    def __post_init__(self) -> None:
        check_range("conf", self.conf, 0.0, 1.0)
        check_range("iou", self.iou, 0.0, 1.0)
        check_range("imgsz", self.imgsz, 32, 4096)
        if int(self.imgsz) != self.imgsz or self.imgsz % 32:
            raise ValueError(f"imgsz must be a multiple of 32 between 32 and 4096, got {self.imgsz}")
        check_range("batch_size", self.batch_size, 1)
        check_range("export_every", self.export_every, 1)
        if self.stride is not None:
            check_range("stride", self.stride, 1)
        if self.actions not in ACTIONS:
            raise ValueError(f"actions must be one of {', '.join(ACTIONS)}, got {self.actions!r}")
        if self.actions == "context" and not self.ball:
            raise ValueError("actions 'context' needs the ball (drop --no-ball, or use --actions kinematic)")
        if self.ball_net is not None and not self.ball:
            raise ValueError("ball_net needs the ball (drop --no-ball)")
        if self.context_mode not in CONTEXT_MODES:
            raise ValueError(f"context_mode must be one of {', '.join(CONTEXT_MODES)}, got {self.context_mode!r}")
        if self.detect_every is not None:
            check_range("detect_every", self.detect_every, 1)
        if self.cores is not None:
            check_range("cores", self.cores, 1)
        if self.tracker not in TRACKERS:
            raise ValueError(f"tracker must be one of {', '.join(TRACKERS)}, got {self.tracker!r}")

    @property
    def game_context(self) -> bool:
        """Whether the actions come from the game context (``actions`` ``"context"``, or ``"auto"`` with the ball)."""
        return self.actions == "context" or (self.actions == "auto" and self.ball)

    def replace(self, **changes) -> PipelineConfig:
        return dataclasses.replace(self, **changes)

    def clip_exporter(self):
        """The :class:`~pipeline.clip_export.ClipExporter` for ``export_clips``, or ``None``.

        Raises:
            OutputError: the folder is a file or cannot be written.
        """
        if self.export_clips is None:
            return None
        from pipeline.clip_export import ClipExporter

        return ClipExporter(self.export_clips, every=self.export_every, overwrite=self.export_overwrite)

    def build(self):
        """Load the models and return the :class:`~pipeline.core.Pipeline` (seconds: model loading).

        Raises:
            WeightsError: a weights file is missing, corrupt or of the wrong kind.
            UsageError: ``device`` names CUDA where there is none.
        """
        from pipeline.core import Pipeline
        from recognizer.context import ContextRecognizer
        from recognizer.kinematic import KinematicRecognizer
        from tracker.common.device import is_cuda, resolve_device
        from pipeline.threads import ThreadPlan
        from tracker.tracking.detector import Detector
        from tracker.tracking.keyframes import default_detect_every

        device = resolve_device(self.device)
        # torch's and OpenCV's thread pools (for each run, put back after it) and the detector runtime's, by one rule
        threads = ThreadPlan.for_cores(self.cores, detector_on_cpu=not is_cuda(device))
        detector = Detector(self.weights, conf=self.conf, iou=self.iou, imgsz=self.imgsz, device=device,
                            half=self.half and is_cuda(device), ball=self.ball, verbose=self.verbose,
                            threads=threads.detector)
        if self.action_model is not None:
            from recognizer.r2plus1d import R2Plus1DRecognizer

            recognizer = R2Plus1DRecognizer(Path(self.action_model), device=device, half=self.half,
                                            compile=self.compile)
            if self.game_context and self.context_mode != "checkpoint":
                recognizer = ContextRecognizer(recognizer, mode=self.context_mode)
        else:
            recognizer = ContextRecognizer() if self.game_context else KinematicRecognizer()
        return Pipeline(detector=detector, tracker=self.tracker, recognizer=recognizer, batch_size=self.batch_size,
                        device=device, progress=self.progress, stride=self.stride, all_people=self.all_people,
                        teams=self.teams, ball=self.ball,
                        detect_every=self.detect_every or default_detect_every(device), clip_export=self.clip_exporter(),
                        threads=threads, ball_net=self.ball_net)
