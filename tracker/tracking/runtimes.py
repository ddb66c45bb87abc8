"""The detector's CPU runtime (LiteRT, ONNX Runtime, OpenVINO, PyTorch) and its thread count.

ultralytics picks each runtime's threads itself: LiteRT ``min(8, cores - 1)``, ONNX Runtime and
OpenVINO all physical cores, PyTorch the process-wide ``torch.set_num_threads``. On a small
machine that oversubscribes the cores the rest of the pipeline needs, so :func:`set_threads`
rebuilds the runtime's session with an explicit count (the pipeline's rule:
:class:`pipeline.threads.ThreadPlan`).

Which runtime runs is decided by the weights file (ultralytics exports all of them from a ``.pt``):

==============================  ===================  =========================================
weights                         runtime (CPU)        install
==============================  ===================  =========================================
``.pt``, model ``.yaml``        PyTorch              (always)
``.onnx``                       ONNX Runtime         ``pip install onnxruntime``
``*_openvino_model/`` (folder)  OpenVINO             ``pip install openvino``
``.tflite``                     LiteRT (XNNPACK)     ``pip install ai-edge-litert``
==============================  ===================  =========================================
"""

from __future__ import annotations

from pathlib import Path


def runtime_name(backend) -> str:
    """``"litert"``, ``"onnxruntime"``, ``"openvino"``, ``"pytorch"`` or the backend's class name."""
    if hasattr(backend, "interpreter"):
        return "litert"
    if hasattr(backend, "session"):
        return "onnxruntime"
    if hasattr(backend, "ov_compiled_model"):
        return "openvino"
    name = type(backend).__name__
    return "pytorch" if name.lower().startswith("pytorch") else name


def set_threads(backend, weights: str | Path, threads: int) -> str:
    """Rebuild an ultralytics backend's CPU session with ``threads`` worker threads.

    Args:
        backend: ``AutoBackend.backend`` after the first prediction (the session exists).
        weights: the file (or OpenVINO folder) it was loaded from.
        threads: worker threads (>= 1).

    Returns:
        The runtime's name (:func:`runtime_name`); PyTorch and unknown runtimes are left as they are
        (PyTorch follows ``torch.set_num_threads``).
    """
    threads = max(1, int(threads))
    name = runtime_name(backend)
    if name == "litert" and type(backend.interpreter).__module__.startswith("ai_edge_litert"):
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(str(weights), num_threads=threads)
        interpreter.allocate_tensors()
        backend.interpreter = interpreter
        backend.input_details = interpreter.get_input_details()
        backend.output_details = interpreter.get_output_details()
    elif name == "onnxruntime" and "CPUExecutionProvider" == backend.session.get_providers()[0]:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        backend.session = onnxruntime.InferenceSession(str(weights), options, providers=["CPUExecutionProvider"])
    elif name == "openvino" and hasattr(backend, "compile_model"):
        import openvino as ov

        xml = Path(weights)
        xml = xml if xml.is_file() else next(xml.glob("*.xml"))
        config = {**backend.compile_model.keywords.get("config", {}), "INFERENCE_NUM_THREADS": threads}
        model = ov.Core().read_model(model=str(xml), weights=xml.with_suffix(".bin"))
        backend.ov_compiled_model = backend.compile_model(model, config=config)
        backend.compile_model = _with_config(backend.compile_model, config)
    return name


def _with_config(compile_model, config: dict):
    """The backend's ``compile_model`` partial with ``config`` (it recompiles per input shape for some models)."""
    from functools import partial

    return partial(compile_model.func, *compile_model.args, **{**compile_model.keywords, "config": config})
