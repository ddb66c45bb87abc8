"""The detector on ONNX Runtime, OpenVINO and LiteRT with the thread count the pipeline's rule gives.

The ONNX and OpenVINO models are exported by ultralytics from a model made from ``yolov8n.yaml``
(random weights): every runtime must compute the same network output as PyTorch.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.video.reader import VideoReader
from tracker.tracking.detector import Detector

IMGSZ = 160


@pytest.fixture(scope="module")
def random_model(tmp_path_factory):
    from ultralytics import YOLO

    folder = tmp_path_factory.mktemp("runtimes")
    YOLO("yolov8n.yaml").save(folder / "rand.pt")
    return folder / "rand.pt"


def _export(weights, fmt: str) -> str:
    from ultralytics import YOLO

    options = {"simplify": False} if fmt == "onnx" else {}
    return YOLO(str(weights)).export(format=fmt, imgsz=IMGSZ, dynamic=True, verbose=False, **options)


def _forward(detector: Detector, x: torch.Tensor) -> np.ndarray:
    y = detector.model.predictor.model(x)
    y = y[0] if isinstance(y, (list, tuple)) else y
    return np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y)


@pytest.mark.parametrize("fmt, runtime", [("onnx", "onnxruntime"), ("openvino", "openvino")])
def test_exported_runtime_computes_the_same_network_with_the_threads_asked(random_model, fmt, runtime):
    pytest.importorskip("onnxruntime" if fmt == "onnx" else "openvino")
    reference = Detector(str(random_model), imgsz=IMGSZ, device="cpu", threads=1)
    exported = Detector(_export(random_model, fmt), imgsz=IMGSZ, device="cpu", threads=1)
    frames = [np.random.default_rng(1).integers(0, 255, (120, 200, 3), dtype=np.uint8)] * 2
    for detector in (reference, exported):  # ultralytics makes the session on the first call
        assert len(detector(frames)) == 2
    assert reference.runtime == "pytorch" and exported.runtime == runtime
    backend = exported.model.predictor.model.backend
    if runtime == "onnxruntime":
        assert backend.session.get_session_options().intra_op_num_threads == 1
    else:
        assert int(backend.ov_compiled_model.get_property("INFERENCE_NUM_THREADS")) == 1
    x = torch.rand(2, 3, IMGSZ, IMGSZ, generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(_forward(exported, x), _forward(reference, x), atol=1e-3, rtol=1e-3)


def test_litert_rebuilt_with_one_thread_finds_the_same_people(tflite_weights, nba_clip):
    with VideoReader(nba_clip) as reader:
        frames = [f.image for _, f in zip(range(2), reader)]
    default = Detector(str(tflite_weights), device="cpu")(frames)
    one = Detector(str(tflite_weights), device="cpu", threads=1)
    first = one(frames)  # ultralytics' own threads; the interpreter is rebuilt with one thread after it
    assert one.runtime == "litert"
    for a, b, c in zip(default, one(frames), first):
        np.testing.assert_allclose(c.xyxy, b.xyxy, atol=1.0)
        assert len(a) == len(b) > 3
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1.0)
