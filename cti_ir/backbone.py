"""The dual encoder: an open_clip model built from a name, with optional pretrained weights.

Any open_clip source works: a built-in name with a pretrained tag or a weights file (``"ViT-B-32"`` +
``"laion2b_s34b_b79k"``), an ``hf-hub:org/repo`` id, a ``local-dir:/path`` folder, or one of the small configs of
our own in ``cti_ir/model_configs`` (``cti-tiny``, ``cti-small``) for CPU work.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

MODEL_CONFIG_DIR = Path(__file__).parent / "model_configs"


@dataclass
class Backbone:
    """An open_clip model with everything needed to feed it."""

    model: torch.nn.Module           # open_clip CLIP / CustomTextCLIP
    preprocess: Callable             # PIL image -> tensor (inference transform)
    tokenizer: Callable              # list[str] -> LongTensor (batch, context_length)
    model_cfg: dict[str, Any]        # the architecture, enough to rebuild the model without its name
    preprocess_cfg: dict[str, Any]   # image size, mean, std, interpolation, resize mode

    @property
    def embed_dim(self) -> int:
        return int(self.model_cfg["embed_dim"])


def register_local_configs() -> None:
    """Make our JSON configs visible to open_clip by name (idempotent)."""
    import open_clip

    if not all(name in open_clip.list_models() for name in local_config_names()):
        open_clip.add_model_config(MODEL_CONFIG_DIR)


def local_config_names() -> list[str]:
    """Names of the configs shipped in ``cti_ir/model_configs``."""
    return sorted(p.stem for p in MODEL_CONFIG_DIR.glob("*.json"))


def create_backbone(model_name: str, pretrained: str | None = None, device: str | torch.device = "cpu") -> Backbone:
    """Build an open_clip backbone.

    ``pretrained`` is an open_clip tag or a weights file and is used only for built-in names; ``hf-hub:`` and
    ``local-dir:`` sources carry their own weights. ``None`` gives a randomly initialised model (training from
    scratch, the offline default).
    """
    import open_clip

    register_local_configs()
    model, _, preprocess = open_clip.create_model_and_transforms(
        model_name, pretrained=pretrained, device=device, precision="fp32", weights_only=True
    )
    model_cfg = open_clip.get_model_config(model_name)
    if model_cfg is None:  # hf-hub ids resolve their config remotely; keep what the model reports
        raise ValueError(f"open_clip returned no architecture config for {model_name!r}")
    return Backbone(
        model=model,
        preprocess=preprocess,
        tokenizer=open_clip.get_tokenizer(model_name),
        model_cfg=dict(model_cfg),
        preprocess_cfg=dict(model.visual.preprocess_cfg),
    )


def backbone_from_config(model_cfg: dict[str, Any], preprocess_cfg: dict[str, Any]) -> Backbone:
    """Rebuild a randomly initialised backbone from a saved architecture (weights are loaded by the caller).

    The architecture comes from the checkpoint itself, so loading never depends on a name being registered.
    """
    import open_clip
    from open_clip.transform import PreprocessCfg, image_transform_v2

    model_cfg = dict(model_cfg)
    if "hf_model_name" in model_cfg.get("text_cfg", {}) or "timm_model_name" in model_cfg.get("vision_cfg", {}):
        # Towers from transformers / timm would try to download their own pretrained weights here.
        model_cfg.setdefault("text_cfg", {})["hf_model_pretrained"] = False
        model_cfg.setdefault("vision_cfg", {})["timm_model_pretrained"] = False
    custom_text = model_cfg.pop("custom_text", False) or "hf_model_name" in model_cfg.get("text_cfg", {})
    model_cls = open_clip.CustomTextCLIP if custom_text else open_clip.CLIP
    model = model_cls(**model_cfg)
    pp_cfg = PreprocessCfg(**{k: v for k, v in preprocess_cfg.items() if k in PreprocessCfg.__dataclass_fields__})
    model.visual.preprocess_cfg = preprocess_cfg
    context_length = model_cfg.get("text_cfg", {}).get("context_length", 77)
    hf_tokenizer = model_cfg.get("text_cfg", {}).get("hf_tokenizer_name")
    tokenizer = (
        open_clip.tokenizer.HFTokenizer(hf_tokenizer, context_length=context_length)
        if hf_tokenizer
        else open_clip.tokenizer.SimpleTokenizer(context_length=context_length)
    )
    return Backbone(
        model=model,
        preprocess=image_transform_v2(pp_cfg, is_train=False),
        tokenizer=tokenizer,
        model_cfg=dict(model_cfg, custom_text=custom_text) if custom_text else dict(model_cfg),
        preprocess_cfg=dict(preprocess_cfg),
    )
