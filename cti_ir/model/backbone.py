"""The dual encoder: an open_clip model built from a name, with optional pretrained weights.

Any open_clip source works: a built-in name with a pretrained tag or a weights file (``"ViT-B-32"`` +
``"laion2b_s34b_b79k"``), an ``hf-hub:org/repo`` id, a ``local-dir:/path`` folder, or one of the small configs of
our own in ``cti_ir/model/configs`` for CPU work (``local_config_names()``: cti-tiny, cti-small and the gallery
models).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # annotations only: listing the configs (a CLI's --help) needs no torch
    import torch

MODEL_CONFIG_DIR = Path(__file__).parent / "configs"
#: Sub-folder of a checkpoint holding the config of a Hugging Face text tower (``text_cfg.hf_model_name``).
HF_TEXT_CONFIG_DIR = "hf_text"
#: What open_clip's ``create_model_and_transforms`` calls the preprocessing overrides, by our short names.
PREPROCESS_OVERRIDES = {"mean": "image_mean", "std": "image_std", "interpolation": "image_interpolation",
                        "resize_mode": "image_resize_mode"}


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
    """Names of the configs shipped in ``cti_ir/model/configs``."""
    return sorted(p.stem for p in MODEL_CONFIG_DIR.glob("*.json"))


#: Model sources that are not names: they carry their own config (checked when they are opened).
SOURCE_SCHEMAS = ("hf-hub:", "local-dir:")


def unknown_model_message(name: str) -> str:
    """The one sentence for a model name open_clip does not know (open_clip's own error lists all 140 names)."""
    import difflib

    import open_clip

    register_local_configs()
    close = difflib.get_close_matches(name, open_clip.list_models(), n=3)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    return (f"{name} is not an open_clip model name{hint}; use one of our configs ({', '.join(local_config_names())}), "
            f"an open_clip name from open_clip.list_models() (e.g. ViT-B-32), hf-hub:ORG/REPO or local-dir:/path")


def check_model_name(name: str) -> None:
    """Refuse, with `unknown_model_message`, a model name open_clip cannot build (before any model is built).

    ``hf-hub:`` and ``local-dir:`` sources pass: what they hold is only known once they are opened.
    """
    if name.startswith(SOURCE_SCHEMAS):
        return
    import open_clip

    register_local_configs()
    if open_clip.get_model_config(name) is None:
        raise ValueError(unknown_model_message(name))


def create_backbone(model_name: str, pretrained: str | None = None, device: str | torch.device = "cpu",
                    preprocess_overrides: dict[str, Any] | None = None,
                    require_pretrained: bool = False) -> Backbone:
    """Build an open_clip backbone.

    ``pretrained`` is an open_clip tag or a weights file and is used only for built-in names; ``hf-hub:`` and
    ``local-dir:`` sources carry their own weights. ``None`` gives a randomly initialised model (training from
    scratch, the offline default). The preprocessing is the source's own (a tag's, or the ``preprocess_cfg`` of an
    ``hf-hub:`` / ``local-dir:`` config); ``preprocess_overrides`` (keys of `PREPROCESS_OVERRIDES`) replaces parts of
    it, e.g. for a weights file whose training used another mean/std than open_clip's default.
    ``require_pretrained`` makes a source that turns out to hold no weights an error instead of a random model.
    """
    import open_clip

    register_local_configs()
    overrides = {PREPROCESS_OVERRIDES[k]: v for k, v in (preprocess_overrides or {}).items() if v is not None}
    model, _, preprocess = open_clip.create_model_and_transforms(
        model_name, pretrained=pretrained, device=device, precision="fp32", weights_only=True,
        require_pretrained=require_pretrained, **overrides,
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


def backbone_from_config(model_cfg: dict[str, Any], preprocess_cfg: dict[str, Any],
                         folder: str | Path | None = None) -> Backbone:
    """Rebuild a randomly initialised backbone from a saved architecture (weights are loaded by the caller).

    The architecture comes from the checkpoint itself, so loading never depends on a name being registered. The
    image transform is rebuilt from ``preprocess_cfg`` and the tokenizer by open_clip's own rules (see
    `tokenizer_from_config`). ``folder`` is the checkpoint folder: a Hugging Face tokenizer or text-tower config
    saved there by `save_text_assets` is used instead of its hub name, so such checkpoints load offline too.
    """
    import copy

    import open_clip
    from open_clip.model import set_model_preprocess_cfg
    from open_clip.transform import PreprocessCfg, image_transform_v2

    model_cfg = copy.deepcopy(dict(model_cfg))
    build_cfg = copy.deepcopy(model_cfg)
    text_cfg, vision_cfg = build_cfg.setdefault("text_cfg", {}), build_cfg.setdefault("vision_cfg", {})
    if "hf_model_name" in text_cfg or "timm_model_name" in vision_cfg:
        # Towers from transformers / timm would try to download their own pretrained weights here.
        text_cfg["hf_model_pretrained"] = False
        vision_cfg["timm_model_pretrained"] = False
    saved_text_config = Path(folder) / HF_TEXT_CONFIG_DIR if folder is not None else None
    if "hf_model_name" in text_cfg and saved_text_config is not None and (saved_text_config / "config.json").is_file():
        text_cfg["hf_model_name"] = str(saved_text_config)  # the architecture as saved, not the hub's current one
    custom_text = build_cfg.pop("custom_text", False) or "hf_model_name" in text_cfg
    model_cfg.pop("custom_text", None)
    model_cls = open_clip.CustomTextCLIP if custom_text else open_clip.CLIP
    model = model_cls(**build_cfg)
    pp_cfg = PreprocessCfg(**{k: v for k, v in preprocess_cfg.items() if k in PreprocessCfg.__dataclass_fields__})
    set_model_preprocess_cfg(model, dict(preprocess_cfg))
    return Backbone(
        model=model,
        preprocess=image_transform_v2(pp_cfg, is_train=False),
        tokenizer=tokenizer_from_config(model_cfg, folder),
        model_cfg=dict(model_cfg, custom_text=custom_text) if custom_text else model_cfg,
        preprocess_cfg=dict(preprocess_cfg),
    )


def has_hf_tokenizer_files(folder: str | Path) -> bool:
    """True when ``folder`` holds a saved Hugging Face tokenizer."""
    return any((Path(folder) / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json"))


def tokenizer_from_config(model_cfg: dict[str, Any], folder: str | Path | None = None) -> Callable:
    """The tokenizer open_clip's ``get_tokenizer`` builds for this architecture.

    Same rules: the text config's ``context_length`` and ``tokenizer_kwargs`` (e.g. SigLIP's
    ``clean="canonicalize"``); a Hugging Face tokenizer (``hf_tokenizer_name``, with ``tokenizer_mode``) when the
    config names one, read from ``folder`` when its files were saved there (as open_clip does for ``local-dir:``),
    else open_clip's ``SimpleTokenizer``.
    """
    from open_clip.tokenizer import DEFAULT_CONTEXT_LENGTH, HFTokenizer, SimpleTokenizer

    text_cfg = model_cfg.get("text_cfg", {})
    context_length = text_cfg.get("context_length", DEFAULT_CONTEXT_LENGTH)
    kwargs = dict(text_cfg.get("tokenizer_kwargs", {}))
    hf_name = text_cfg.get("hf_tokenizer_name")
    if hf_name:
        source = str(folder) if folder is not None and has_hf_tokenizer_files(folder) else hf_name
        try:
            return HFTokenizer(source, context_length=context_length, tokenizer_mode=text_cfg.get("tokenizer_mode"),
                               **kwargs)
        except OSError as exc:  # transformers' error for a name it can neither find locally nor download
            raise ValueError(
                f"cannot load the Hugging Face tokenizer {hf_name!r} ({exc.__class__.__name__}): it is not saved in "
                f"the checkpoint and not in the local Hugging Face cache. Re-save the checkpoint with this code "
                "(it stores the tokenizer's files), or load it once with network access"
            ) from exc
    return SimpleTokenizer(context_length=context_length, **kwargs)


def save_text_assets(backbone_model: torch.nn.Module, tokenizer: Callable, folder: str | Path) -> list[str]:
    """Write what rebuilding the text side needs besides the weights; returns the files written (relative paths).

    A Hugging Face tokenizer's files go to ``folder`` itself (where open_clip's ``local-dir:`` loader looks for
    them), a Hugging Face text tower's ``config.json`` to ``folder/hf_text/``. Nothing for open_clip's own tokenizer
    and text transformer, which the saved config describes completely.
    """
    from open_clip.tokenizer import HFTokenizer

    folder = Path(folder)
    before = {p for p in folder.rglob("*") if p.is_file()}
    if isinstance(tokenizer, HFTokenizer):
        tokenizer.save_pretrained(str(folder))
    text_tower_config = getattr(getattr(backbone_model, "text", None), "config", None)
    if text_tower_config is not None and hasattr(text_tower_config, "save_pretrained"):
        text_tower_config.save_pretrained(str(folder / HF_TEXT_CONFIG_DIR))
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p not in before)
