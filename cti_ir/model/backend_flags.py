"""The inference-backend flags every command that runs the model shares (``python app.py``, ``python -m cti_ir.index
build`` / ``add``): their names, choices and help in one place. No torch import, so ``--help`` stays instant; what
the backends are is ``cti_ir.model.inference``.
"""

from __future__ import annotations

BACKENDS = ("torch", "onnx", "onnx-int8", "auto")


def add_backend_flags(parser, *names: str) -> None:
    """The inference-backend flags of a command: ``names`` for the backend (e.g. ``--backend``), ``--onnx-dir``.

    They land in ``args.model_backend`` and ``args.onnx_dir``.
    """
    group = parser.add_argument_group("inference backend (what runs the model's image and text towers)")
    group.add_argument(*(names or ("--model-backend",)), dest="model_backend", choices=BACKENDS, default="torch",
                       help="torch: PyTorch, the reference (default: torch); onnx or onnx-int8 (ONNX Runtime on the fp32 "
                            "or int8 export of the checkpoint: python -m cti_ir.model.onnx_export); auto (the "
                            "fastest, timed at start, among those meeting the accuracy bar that python -m "
                            "cti_ir.evaluate.backend_check recorded; PyTorch when there is no export). Without "
                            "onnxruntime installed, PyTorch with a notice")
    group.add_argument("--onnx-dir", default=None,
                       help="the checkpoint's ONNX export folder (default: CHECKPOINT/onnx)")
