"""Make a checkpoint from any pretrained open_clip model, with no training: the zero-shot baseline.

    python -m cti_ir.model.export --model ViT-B-32 --pretrained laion2b_s34b_b79k --composer sum --out runs/zeroshot
    python -m cti_ir.model.export --model ViT-B-32 --pretrained ~/weights/vit_b_32.safetensors --out runs/zeroshot
    python -m cti_ir.model.export --model hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K --out runs/zeroshot
    python -m cti_ir.model.export --model local-dir:/models/my_clip --out runs/zeroshot

The checkpoint folder is what training writes, so ``cti_ir.index build``, ``cti_ir.evaluate.evaluator``, ``app.py`` and the
search API take it as it is, and ``training.stage3 --init`` can fine-tune from it later. It keeps the model's own
preprocessing (image size, mean/std, interpolation, resize mode) and tokenizer; a Hugging Face tokenizer's files
are copied into it, so it loads offline. The composer is parameter-free: ``sum`` (image + text, the zero-shot
baseline every composed-retrieval paper reports), ``image`` or ``text``; a learned composer needs training.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from cti_ir.files import sha256_file
from cti_ir.model.backbone import SOURCE_SCHEMAS, check_model_name, local_config_names, unknown_model_message

#: Composers that need no training, so that an exported model is usable as it is.
ZERO_SHOT_COMPOSERS = ("sum", "image", "text")


class ExportError(ValueError):
    """The model, its weights or the output folder cannot be used; the message says what to do."""


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface (also what --help prints)."""
    p = argparse.ArgumentParser(
        prog="python -m cti_ir.model.export",
        description="Write a checkpoint folder from a pretrained open_clip model with a parameter-free composer, "
                    "usable with no training by `cti_ir.index`, `cti_ir.evaluate` and app.py (the zero-shot baseline), "
                    "and as --init for training.stage3.",
        epilog="Exit code: 0 written; 2 bad arguments, weights that do not fit the model, or an output folder "
               "that exists (see --overwrite).",
    )
    p.add_argument("--model", required=True,
                   help=f"an open_clip model name (e.g. ViT-B-32, ViT-B-16-SigLIP, or one of our configs: "
                        f"{', '.join(local_config_names())}), hf-hub:ORG/REPO, or local-dir:/path/to/folder "
                        f"(open_clip_config.json + weights)")
    p.add_argument("--pretrained", default=None,
                   help="for a model name: an open_clip pretrained tag (downloaded, e.g. laion2b_s34b_b79k) or a "
                        "weights file (.safetensors, or a PyTorch state dict loaded with weights_only=True). Not "
                        "used with hf-hub: and local-dir:, which carry their weights")
    p.add_argument("--composer", default="sum", choices=ZERO_SHOT_COMPOSERS,
                   help="how queries combine image and text: sum (default, the zero-shot baseline), image or text "
                        "only. Learned composers (adaptive, combiner) need training: export with sum, then "
                        "python -m training.stage3 --init OUT --composer adaptive")
    p.add_argument("--out", required=True, help="checkpoint folder to write")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    g = p.add_argument_group("preprocessing (default: the model's own, from its tag or config)")
    g.add_argument("--preprocess-from-tag", default=None, metavar="TAG",
                   help="with a weights file: use the preprocessing open_clip records for this pretrained tag of "
                        "--model (e.g. webli for ViT-B-16-SigLIP), as if the tag had been downloaded; no network")
    g.add_argument("--image-mean", type=float, nargs=3, default=None, metavar=("R", "G", "B"),
                   help="normalisation mean the weights were trained with")
    g.add_argument("--image-std", type=float, nargs=3, default=None, metavar=("R", "G", "B"),
                   help="normalisation standard deviation the weights were trained with")
    g.add_argument("--interpolation", choices=("bicubic", "bilinear", "random"), default=None,
                   help="resize interpolation")
    g.add_argument("--resize-mode", choices=("shortest", "longest", "squash"), default=None,
                   help="shortest: resize the short side and centre-crop (CLIP); squash: resize to the square "
                        "ignoring the aspect ratio (SigLIP); longest: resize the long side and pad")
    p.add_argument("--fp16", action="store_true", help="store the weights in fp16 (half the size; loaded as fp32)")
    return p


def resolve_preprocess(args: argparse.Namespace) -> dict[str, Any]:
    """The preprocessing overrides asked for: a tag's recorded values, then the explicit flags on top."""
    import open_clip

    overrides: dict[str, Any] = {}
    if args.preprocess_from_tag:
        if args.model.startswith(SOURCE_SCHEMAS):
            raise ExportError("--preprocess-from-tag works with an open_clip model name; hf-hub: and local-dir: "
                              "sources carry their preprocessing in their config")
        tag_cfg = open_clip.get_pretrained_cfg(args.model, args.preprocess_from_tag)
        if not tag_cfg:
            tags = ", ".join(open_clip.list_pretrained_tags_by_model(args.model)) or "none"
            raise ExportError(f"open_clip knows no pretrained tag {args.preprocess_from_tag!r} for {args.model}; "
                              f"its tags: {tags}")
        overrides.update({k: tag_cfg[k] for k in ("mean", "std", "interpolation", "resize_mode") if k in tag_cfg})
    explicit = {"mean": args.image_mean, "std": args.image_std, "interpolation": args.interpolation,
                "resize_mode": args.resize_mode}
    overrides.update({k: v for k, v in explicit.items() if v is not None})
    return {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}


def check_source(args: argparse.Namespace) -> Path | None:
    """Refuse source combinations that open_clip would silently ignore or turn into a random model."""
    if args.model.startswith(SOURCE_SCHEMAS):
        if args.pretrained:
            raise ExportError(f"--pretrained is not used with {args.model.split(':')[0]}: sources, which carry their "
                              "own weights; drop it")
        if args.model.startswith("local-dir:"):
            folder = Path(args.model[len("local-dir:"):])
            if not (folder / "open_clip_config.json").is_file():
                raise ExportError(f"{folder} is not an open_clip local-dir folder: open_clip_config.json is missing")
        return None
    try:
        check_model_name(args.model)  # before the weights: an unknown name is the first thing to fix
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    if not args.pretrained:
        raise ExportError(f"--pretrained is required for {args.model}: a pretrained tag or a weights file (without "
                          "weights the model would be random, and a zero-shot checkpoint of a random model is "
                          "useless)")
    weights = Path(os.path.expanduser(args.pretrained))
    if weights.suffix in (".safetensors", ".pt", ".pth", ".bin") and not weights.is_file():
        raise ExportError(f"weights file {weights} not found")
    return weights if weights.is_file() else None


def tag_preprocess_note(model_name: str, applied: dict[str, Any]) -> str:
    """A note when a weights file gets open_clip's default preprocessing but the model's tags use another one."""
    import open_clip

    differing = []
    for tag in open_clip.list_pretrained_tags_by_model(model_name):
        cfg = open_clip.get_pretrained_cfg(model_name, tag)
        keys = [k for k in ("mean", "std", "interpolation", "resize_mode") if k in cfg]
        if any(_norm(cfg[k]) != _norm(applied.get(k)) for k in keys):
            differing.append(tag)
    if not differing:
        return ""
    return (f"note: open_clip's pretrained tags {', '.join(differing[:4])}{' ...' if len(differing) > 4 else ''} of "
            f"{model_name} were trained with other preprocessing than the defaults used for a weights file; if the "
            "file holds one of them, export again with --preprocess-from-tag TAG")


def _norm(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(round(float(v), 6) for v in value)
    return value


def export(args: argparse.Namespace) -> Path:
    """Build the model from ``args`` and write the checkpoint; returns its folder."""
    import torch

    from cti_ir.model.backbone import create_backbone
    from cti_ir.model.checkpoint import save_checkpoint
    from cti_ir.model.cir_model import CIRModel

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise ExportError(f"{out} exists; choose another --out or pass --overwrite to replace it")
    weights_file = check_source(args)
    overrides = resolve_preprocess(args)
    # open_clip and huggingface_hub log their own raw lines (ERROR:root:...) before raising; the errors below say
    # it in our words. Warnings (warnings.warn, e.g. a QuickGELU mismatch) still show.
    logging.disable(logging.ERROR)
    try:
        backbone = create_backbone(args.model, str(weights_file) if weights_file else args.pretrained,
                                   preprocess_overrides=overrides, require_pretrained=True)
    except FileNotFoundError as exc:
        raise ExportError(str(exc)) from None
    except Exception as exc:  # unknown name, a failed download, a file that is unreadable or does not fit
        if isinstance(exc, RuntimeError) and "not found in built-ins" in str(exc):
            raise ExportError(_explain_open_clip_error(args, exc)) from None
        if weights_file is not None:
            raise ExportError(_explain_weights_error(args.model, weights_file, exc)) from None
        if isinstance(exc, RuntimeError):
            raise ExportError(_explain_open_clip_error(args, exc)) from None
        raise
    finally:
        logging.disable(logging.NOTSET)
    model = CIRModel(backbone, args.composer)
    source = {"model": args.model, "pretrained": str(weights_file) if weights_file else args.pretrained,
              "preprocess_overrides": {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()}}
    if weights_file is not None:
        source["pretrained_sha256"] = sha256_file(weights_file)
    training_args = {"export": source, "composer": args.composer, "trained": False,
                     "note": "zero-shot export of a pretrained open_clip model (python -m cti_ir.model.export)"}
    return save_checkpoint(model, out, training_args=training_args,
                           storage_dtype=torch.float16 if args.fp16 else None)


def _explain_weights_error(model_name: str, weights: Path, exc: Exception) -> str:
    """Say whether a weights file could not be read at all, or was read but does not fit the model."""
    import pickle

    import torch
    from safetensors.torch import load_file

    first_line = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
    try:
        if weights.suffix == ".safetensors":
            load_file(str(weights))
        else:
            torch.load(weights, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        return (f"{weights} is not a plain PyTorch state dict: reading it needs unpickling arbitrary objects, which "
                "is refused for safety (torch.load weights_only=True); save its state dict, or convert it to "
                ".safetensors, where it came from")
    except Exception as read_error:  # truncated, not a weights file at all
        return (f"cannot read {weights} as model weights ({type(read_error).__name__}: "
                f"{(str(read_error).splitlines() or [''])[0][:200]}); pass a .safetensors file or a PyTorch state "
                "dict")
    return (f"the weights in {weights} do not fit {model_name} ({type(exc).__name__}: {first_line}); check that "
            "the file belongs to this architecture (e.g. ViT-B-32 weights with --model ViT-B-32)")


def _explain_open_clip_error(args: argparse.Namespace, exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "not found in built-ins" in text:
        return unknown_model_message(args.model)
    if "download" in text.lower() or "hub" in text.lower():
        return (f"could not download the weights of {args.pretrained or args.model} (no network, or not on the "
                "hub); download the weights file elsewhere and pass --model NAME --pretrained FILE, or a "
                "local-dir: folder")
    if "could not be loaded" in text:
        return (f"{args.model} holds no weights (open_clip_config.json without open_clip_model.safetensors or "
                "open_clip_pytorch_model.bin beside it)")
    if "is not a known tag" in text:
        import open_clip

        tags = ", ".join(open_clip.list_pretrained_tags_by_model(args.model)) or "none"
        return f"{args.pretrained!r} is neither a file nor a pretrained tag of {args.model} (its tags: {tags})"
    return f"open_clip could not build {args.model}: {text[:300]}"


def describe(folder: Path, model) -> list[str]:
    """What the written checkpoint holds, and what to run next."""
    pp = model.preprocess_cfg
    text_cfg = model.model_cfg.get("text_cfg", {})
    tokenizer = type(model.tokenizer).__name__
    if text_cfg.get("hf_tokenizer_name"):
        tokenizer += f" ({text_cfg['hf_tokenizer_name']}, files saved in the checkpoint)"
    return [
        f"wrote {folder} (fingerprint {model.fingerprint})",
        f"  embedding dimension {model.embed_dim}, composer {model.composer_name}",
        f"  images: {pp.get('size')} px, mean {list(pp.get('mean', []))}, std {list(pp.get('std', []))}, "
        f"{pp.get('interpolation')}, resize mode {pp.get('resize_mode')}",
        f"  text: {tokenizer}, context length {text_cfg.get('context_length', 77)}",
        "next:",
        f"  python -m cti_ir.evaluate --checkpoint {folder} --dataset fashioniq --root DATA/fashioniq",
        f"  python -m cti_ir.index build --checkpoint {folder} --images SHOP_PHOTOS --out INDEX",
        f"  python app.py --checkpoint {folder} --index INDEX",
        f"  python -m training.stage3 --init {folder} --composer adaptive --data fashioniq=DATA/fashioniq ...",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the export; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        folder = export(args)
    except (ExportError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from cti_ir.model.checkpoint import load_checkpoint

    model = load_checkpoint(folder)  # loads what was written, checksums included: the export is usable
    print("\n".join(describe(folder, model)))
    from_file = not args.model.startswith(SOURCE_SCHEMAS) and Path(os.path.expanduser(args.pretrained)).is_file()
    asked = args.preprocess_from_tag or args.image_mean or args.image_std or args.interpolation or args.resize_mode
    if from_file and not asked:
        note = tag_preprocess_note(args.model, model.preprocess_cfg)
        if note:
            print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
