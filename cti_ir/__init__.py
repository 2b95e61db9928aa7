"""cti_ir: composed text-plus-image retrieval for fashion.

Importing the package does no work; heavy modules (torch, open_clip, faiss) are imported by the functions that
need them.
"""

__version__ = "0.1.0"


def load(path, device="cpu"):
    """Load a trained ``CIRModel`` from a checkpoint folder (safetensors only, never pickle)."""
    from cti_ir.model.checkpoint import load_checkpoint

    return load_checkpoint(path, device=device)
