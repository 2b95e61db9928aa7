"""Export a checkpoint's towers (fp32 and int8) and its composer to ONNX, for the faster inference backends.

    python -m cti_ir.model.onnx_export --checkpoint runs/stage3/best                 # into runs/stage3/best/onnx
    python -m cti_ir.model.onnx_export --checkpoint demo_model --out runs/onnx/demo   # into a folder you name

Then ``--backend onnx``, ``onnx-int8`` or ``auto`` on ``python app.py``, ``python -m cti_ir.index build`` and
``python -m cti_ir.evaluate.backend_check`` (which measures each backend's accuracy against PyTorch and records it
for ``auto``). The folder's layout and the checks made when it is used are in ``cti_ir.model.onnx_backend``.

The towers are traced with PyTorch's ONNX exporter (``torch.export``, dynamic batch size; dynamic sequence length for a
causal text tower, see ``onnx_backend``), open_clip's own transformers in a leaner form that computes the same embedding
in fewer graph nodes (``onnx_graphs``; ``--graph plain`` traces open_clip's modules as they are), checked against
PyTorch on probe inputs before anything is written (fp32 within ``FP32_TOLERANCE``), and quantised with ONNX Runtime's
dynamic quantisation: int8 weights, activations quantised per batch at run time, no calibration data needed. Only matrix
products are quantised (weights per output channel): the patch embedding's convolution ran slower as an int8 ConvInteger
than in fp32 (ViT-B-32, one thread: 143 against 114 ms an image with and without it). ``--int8-layers mlp`` quantises
only the MLP blocks: on the demo model the attention's products were what moved the result lists. The composer is
exported too, in fp32 (a few small layers, run by both backends: see ``onnx_backend`` for why), unless it reads the raw
texts (the pseudo-token composer), or cannot be traced, which the export says; it then runs in PyTorch. An adapted
checkpoint's image tower (adapters hooked into its blocks at a chosen granularity) is not exported and keeps running in
PyTorch.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from cti_ir.files import replace_dir_atomic, sha256_file, staging_dir, write_json_atomic
from cti_ir.model.checkpoint import CheckpointError, load_checkpoint, read_checkpoint_config
from cti_ir.model.onnx_backend import (
    COMPOSER_FILE,
    COMPOSER_INPUTS,
    COMPOSER_OUTPUTS,
    CONFIG_FILE,
    FORMAT,
    FORMAT_VERSION,
    INSTALL_HINT,
    OnnxError,
    default_onnx_dir,
    importable,
    load_composer,
    load_towers,
    tower_file,
)
from cti_ir.model.onnx_graphs import GRAPHS, ComposerGraph, image_graph, text_graph, truncatable

#: Largest difference allowed between an fp32 tower's ONNX and PyTorch outputs (L2-normalised embeddings).
FP32_TOLERANCE = 1e-4
OPSET = 18
QUANTISED_OPS = ("MatMul", "Gemm")
PRECISIONS = ("fp32", "int8")
INT8_LAYERS = ("all", "mlp")
TOWER_NAMES = ("image", "text")
#: Probe texts of the round-trip check: empty, short, long, and one longer than any context (cut by the tokenizer).
PROBE_TEXTS = ("", "is red", "is shorter and black with long sleeves and a floral print", "very " * 100 + "long")


def _need_export_packages() -> None:
    missing = [name for name in ("onnx", "onnxscript", "onnxruntime") if not importable(name)]
    if missing:
        raise OnnxError(f"exporting to ONNX needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
                        f"not installed: {INSTALL_HINT}")


def _trace(module: nn.Module, examples: tuple[torch.Tensor, ...], path: Path, inputs: Sequence[str],
           outputs: Sequence[str], dims: Sequence[dict], what: str) -> None:
    """Export ``module`` to ``path``, input ``i`` with the dynamic dimensions ``dims[i]`` (a dimension of the same
    name is the same in every input); the exporter's chatter is kept quiet."""
    from torch.export import Dim

    made: dict[str, Any] = {}
    shapes = tuple({axis: made.setdefault(name, Dim(name, min=low, max=high)) for axis, (name, low, high) in d.items()}
                   for d in dims)
    chatter = io.StringIO()
    try:
        with torch.no_grad(), contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module.eval(), examples, str(path), input_names=list(inputs),
                              output_names=list(outputs), dynamic_shapes=shapes, dynamo=True, external_data=False,
                              opset_version=OPSET)
    except Exception as e:  # the exporter raises many types; the user needs the one line
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        raise OnnxError(f"the {what} could not be exported to ONNX ({type(e).__name__}: {first})") from e


def mlp_nodes(path: Path, width: int, hidden: int) -> list[str]:
    """The matrix products of a transformer's MLP blocks in an exported graph: those whose weight is ``width x
    hidden`` or ``hidden x width`` (the attention's weights are ``width x width`` or ``width x 3 width``)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    shapes = {tensor.name: sorted(tensor.dims) for tensor in graph.initializer}
    return [node.name for node in graph.node if node.op_type in QUANTISED_OPS and len(node.input) > 1
            and shapes.get(node.input[1]) == sorted((width, hidden))]


def _quantise(source: Path, target: Path, nodes: list[str] | None) -> None:
    """int8 weights per output channel, activations quantised at run time; ``nodes`` only (None: every matrix
    product)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to pre-process the graph goes to the root logger as a WARNING
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            # reduce_range: 7-bit weights. On CPUs without VNNI (AVX2 only) ONNX Runtime's u8 x s8 kernel adds
            # pairs of products in 16 bits, which saturate with 8-bit weights: measured on an AVX2 machine, the
            # test model's int8 text tower fell to cosine 0.969 against PyTorch, 0.9992 with reduce_range.
            quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True,
                             reduce_range=True, op_types_to_quantize=list(QUANTISED_OPS), nodes_to_quantize=nodes)
    finally:
        root.setLevel(level)


def _mlp_shape(model, tower: str) -> tuple[int, int]:
    """(width, MLP hidden size) of one of open_clip's own towers, from the checkpoint's config."""
    cfg = model.model_cfg.get("vision_cfg" if tower == "image" else "text_cfg", {})
    if "width" not in cfg or "timm_model_name" in cfg or "hf_model_name" in cfg:
        raise OnnxError(f"--int8-layers mlp needs open_clip's own {tower} transformer; this model's is another kind: "
                        "use --int8-layers all")
    width = int(cfg["width"])
    return width, int(width * float(cfg.get("mlp_ratio", 4.0)))


def export_towers(model, folder: Path, precisions: Sequence[str], log: Callable[[str], None],
                  int8_layers: str = "all", int8_towers: Sequence[str] = TOWER_NAMES,
                  graph: str = "lean") -> dict[str, Any]:
    """Write the towers of ``model`` into ``folder``; returns the ``towers`` section of the config.

    ``graph`` is the form traced (:mod:`cti_ir.model.onnx_graphs`): ``lean`` where a tower allows it, else
    ``plain``; each tower's entry records the form written.

    ``int8_layers`` is what the int8 towers quantise: ``all`` matrix products, or the ``mlp`` blocks' only.
    ``int8_towers`` are the towers quantised; the int8 backend runs the others' fp32 file (its ``int8`` entry
    names the fp32 file).
    """
    clip = model.backbone
    towers: dict[str, Any] = {}
    if getattr(model, "adapters", None) is None:
        size = tuple(int(s) for s in model.preprocess_cfg.get("size", (224, 224)))
        module, form = image_graph(clip, graph)
        log(f"exporting the image tower ({size[0]}x{size[1]} px, {form} graph) ...")
        _trace(module, (torch.randn(2, 3, *size),), folder / tower_file("image", "fp32"), ["pixels"],
               ["image_features"], [{0: ("batch", 1, 1 << 16)}], "image tower")
        towers["image"] = {"input": "pixels", "shape": [3, *size], "graph": form,
                           "files": {"fp32": tower_file("image", "fp32")}}
    else:
        towers["image"] = None
        log("the image tower has adapters (an adapted checkpoint): it stays in PyTorch")
    context = int(model.model_cfg.get("text_cfg", {}).get("context_length", 77))
    cut = truncatable(clip)
    module, form = text_graph(clip, graph)
    log(f"exporting the text tower (context {context} tokens, {'variable length' if cut else 'full length'}, "
        f"{form} graph) ...")
    tokens = model.tokenize(list(PROBE_TEXTS[1:3]))
    length_dims = {1: ("length", 2, context)} if cut else {}
    _trace(module, (tokens[:, :min(context, 16)] if cut else tokens,), folder / tower_file("text", "fp32"),
           ["tokens"], ["text_features"], [{0: ("batch", 1, 1 << 16), **length_dims}], "text tower")
    towers["text"] = {"input": "tokens", "context_length": context, "truncate": "argmax" if cut else None,
                      "graph": form, "files": {"fp32": tower_file("text", "fp32")}}
    if "int8" in precisions:
        for name, tower in towers.items():
            if tower is not None and name not in int8_towers:
                log(f"the {name} tower stays fp32 in the int8 backend")
                tower["files"]["int8"] = tower["files"]["fp32"]
            elif tower is not None:
                log(f"quantising the {name} tower to int8 ({int8_layers} matrix products) ...")
                source = folder / tower["files"]["fp32"]
                nodes = mlp_nodes(source, *_mlp_shape(model, name)) if int8_layers == "mlp" else None
                _quantise(source, folder / tower_file(name, "int8"), nodes)
                tower["files"]["int8"] = tower_file(name, "int8")
    return towers


def export_composer(model, folder: Path, log: Callable[[str], None]) -> dict[str, Any] | None:
    """Write the composer of ``model`` into ``folder``; returns the ``composer`` section of the config, or None
    (with a line in the log) for a composer that stays in PyTorch."""
    if getattr(model, "text_memo", None) is not None:
        log(f"the composer ({model.composer_name}) reads the raw texts: it stays in PyTorch")
        return None
    log(f"exporting the composer ({model.composer_name}) ...")
    example = F.normalize(torch.randn(2, model.embed_dim, generator=torch.Generator().manual_seed(0)), dim=-1)
    batch = {0: ("batch", 1, 1 << 16)}
    try:
        _trace(ComposerGraph(model.composer), (example, example.flip(0)), folder / COMPOSER_FILE,
               COMPOSER_INPUTS, COMPOSER_OUTPUTS, [batch, batch], "composer")
    except OnnxError as e:
        (folder / COMPOSER_FILE).unlink(missing_ok=True)
        log(f"{e}: it stays in PyTorch")
        return None
    return {"name": model.composer_name, "file": COMPOSER_FILE, "inputs": list(COMPOSER_INPUTS),
            "outputs": list(COMPOSER_OUTPUTS)}


@torch.no_grad()
def round_trip(model, config: dict[str, Any]) -> dict[str, Any]:
    """How far each exported tower's outputs are from PyTorch's on probe inputs: max abs difference, min cosine."""
    generator = torch.Generator().manual_seed(0)
    report: dict[str, Any] = {}
    tokens = model.tokenize(list(PROBE_TEXTS))
    inputs = {"text": tokens}
    if config["towers"].get("image"):
        inputs["image"] = torch.randn((4, *config["towers"]["image"]["shape"]), generator=generator)
    expected = {"text": model.encode_tokens(tokens.to(model.device)).float().cpu()}
    if "image" in inputs:
        expected["image"] = model.encode_images(inputs["image"].to(model.device)).float().cpu()
    for precision in PRECISIONS:
        image, text = load_towers(config, precision, threads=1)
        for name, tower in (("image", image), ("text", text)):
            if tower is None:
                continue
            got = tower(inputs[name]).float()
            report.setdefault(name, {})[precision] = {
                "max_abs_diff": float((got - expected[name]).abs().max()),
                "min_cosine": float((got * expected[name]).sum(dim=1).min())}
    composer = load_composer(config, threads=1)
    if composer is not None:  # features of every probe text against random image features
        image = F.normalize(torch.randn(len(PROBE_TEXTS), model.embed_dim, generator=generator), dim=-1)
        want, got = model.compose(image, expected["text"]), composer(image, expected["text"])
        diff = max(float((g.float() - w.float().reshape(g.shape)).abs().max())
                   for g, w in zip(got[:3], want[:3]))
        report["composer"] = {"fp32": {"max_abs_diff": diff,
                                       "min_cosine": float((got.query * want.query).sum(dim=1).min())}}
    return report


def export_onnx(checkpoint: str | Path, out: str | Path | None = None, precisions: Sequence[str] = PRECISIONS,
                log: Callable[[str], None] | None = None, int8_layers: str = "all",
                int8_towers: Sequence[str] = TOWER_NAMES, graph: str = "lean") -> Path:
    """Export ``checkpoint``'s towers into ``out`` (default ``CHECKPOINT/onnx``), atomically; returns the folder.

    Raises :class:`OnnxError` (or ``CheckpointError``) with one sentence: packages missing, a tower that cannot
    be exported, an fp32 export that does not reproduce PyTorch, an ``out`` that is some other folder.
    """
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    _need_export_packages()
    if "fp32" not in precisions:
        raise OnnxError("the fp32 export is always written (int8 is quantised from it); --precisions must include fp32")
    if not int8_towers or any(t not in TOWER_NAMES for t in int8_towers):
        raise OnnxError(f"--int8-towers takes image, text or both, got {' '.join(int8_towers) or 'none'}")
    if graph not in GRAPHS:
        raise OnnxError(f"--graph takes {' or '.join(GRAPHS)}, got {graph!r}")
    checkpoint_config = read_checkpoint_config(checkpoint)
    out = Path(out) if out is not None else default_onnx_dir(checkpoint)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / CONFIG_FILE).is_file())):
        raise OnnxError(f"{out} exists and is not an ONNX export; name an empty or new folder with --out")
    model = load_checkpoint(checkpoint)
    try:
        tmp = staging_dir(out)
    except OSError as e:  # e.g. a checkpoint folder installed read-only
        raise OnnxError(f"cannot write into {out.parent} ({e.strerror or e}); name a writable folder with --out") \
            from None
    try:
        towers = export_towers(model, tmp, precisions, log, int8_layers, int8_towers, graph)
        composer = export_composer(model, tmp, log)
        files = {name: sha256_file(tmp / name)
                 for tower in towers.values() if tower for name in tower["files"].values()}
        if composer is not None:
            files[composer["file"]] = sha256_file(tmp / composer["file"])
        import onnx
        import onnxruntime

        config = {"format": FORMAT, "format_version": FORMAT_VERSION,
                  "checkpoint_fingerprint": checkpoint_config["fingerprint"], "checkpoint": str(checkpoint),
                  "embed_dim": model.embed_dim, "graph": graph, "towers": towers, "composer": composer, "files": files,
                  "quantisation": {"method": "dynamic", "weights": "int8 per channel", "ops": list(QUANTISED_OPS),
                                   "layers": int8_layers,
                                  "towers": [t for t in TOWER_NAMES if t in int8_towers and towers.get(t)]},
                  "versions": {"torch": torch.__version__, "onnx": onnx.__version__,
                               "onnxruntime": onnxruntime.__version__, "opset": OPSET}}
        log("checking the export against PyTorch ...")
        config["round_trip"] = round_trip(model, {**config, "_folder": str(tmp)})
        worst = max(r["fp32"]["max_abs_diff"] for r in config["round_trip"].values())
        if worst > FP32_TOLERANCE:
            raise OnnxError(f"the fp32 ONNX export of {checkpoint} differs from PyTorch by up to {worst:.2g} (allowed "
                            f"{FP32_TOLERANCE:g}); nothing was written")
        write_json_atomic(tmp / CONFIG_FILE, config)
        replace_dir_atomic(tmp, out)
    except BaseException:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface (also what --help prints)."""
    p = argparse.ArgumentParser(
        prog="python -m cti_ir.model.onnx_export",
        description="Export a checkpoint's image and text towers (fp32, and int8 by dynamic quantisation) and its "
                    "composer (fp32) to ONNX "
                    "for the faster inference backends (--backend onnx, onnx-int8 or auto of app.py and "
                    "cti_ir.index build). The folder records the checkpoint's fingerprint and each file's SHA-256; "
                    "it is refused with any other checkpoint or when a file changed.",
        epilog="Exit code: 0 written; 2 a missing package, an unreadable checkpoint, a tower that cannot be "
               "exported, or an --out that is not an export folder.")
    p.add_argument("--checkpoint", required=True,
                   help="checkpoint folder (training's output, or cti_ir.model.export's)")
    p.add_argument("--out", default=None,
                   help="folder to write (default: CHECKPOINT/onnx, where the backends look first); an earlier "
                        "export there is replaced")
    p.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=list(PRECISIONS),
                   help="what to write: fp32 (always) and int8 (default: fp32 int8)")
    p.add_argument("--int8-layers", choices=INT8_LAYERS, default="all",
                   help="what int8 quantises: all matrix products (default: all; the fastest) or only those of the "
                        "transformers' MLP blocks (closer to fp32, about half the gain; on the demo model the result "
                        "lists kept 0.99 of fp32's top 10 against 0.97)")
    p.add_argument("--int8-towers", nargs="+", choices=TOWER_NAMES, default=list(TOWER_NAMES),
                   help="the towers int8 quantises; the others run their fp32 file in the int8 backend (default: "
                        "image text); on a ViT-B-32 the image tower is most of a composed query's time")
    p.add_argument("--graph", choices=GRAPHS, default="lean",
                   help="how the towers are written (default: lean): lean computes the same embedding in fewer "
                        "graph nodes and the last block only for the token the tower is read at, where a tower "
                        "allows it; plain traces open_clip's modules as they are (for comparison)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the export; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        folder = export_onnx(args.checkpoint, args.out, args.precisions, int8_layers=args.int8_layers,
                             int8_towers=args.int8_towers, graph=args.graph)
    except (OnnxError, CheckpointError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from cti_ir.model.onnx_backend import read_onnx_config

    config = read_onnx_config(folder, read_checkpoint_config(args.checkpoint)["fingerprint"], args.checkpoint)
    print(f"wrote {folder} (checkpoint {config['checkpoint_fingerprint']})")
    for part, checks in config["round_trip"].items():
        for precision, r in checks.items():
            name = config["composer"]["file"] if part == "composer" else config["towers"][part]["files"][precision]
            size = (folder / name).stat().st_size / 1e6
            what = "composer" if part == "composer" else f"{part} tower"
            print(f"  {precision} {what}, {name}: {size:.1f} MB, against PyTorch max |diff| "
                  f"{r['max_abs_diff']:.2g}, min cosine {r['min_cosine']:.6f}")
    if config.get("composer") is None:
        print("  the composer runs in PyTorch (see the lines above)")
    folder_flag = "" if folder == default_onnx_dir(args.checkpoint) else f" --onnx-dir {folder}"
    print("next:\n"
          f"  python -m cti_ir.evaluate.backend_check --checkpoint {args.checkpoint}{folder_flag} "
          "--layout fashioniq DATA/fashioniq   # accuracy of each backend, recorded for --backend auto\n"
          f"  python app.py --checkpoint {args.checkpoint} --index INDEX --backend auto{folder_flag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
