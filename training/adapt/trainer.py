"""Label-free adaptation of the image encoder to a shop's own photos, across retrieval granularities (Grappa).

    python -m training.adapt --checkpoint demo_model --images shop_photos/ --out runs/adapted

From unlabeled images only: the frozen model's features are clustered at several sizes (pseudo-labels of
different granularities, e.g. 8, 32, 128 and 512 clusters); phase 1 trains one set of residual adapters per
clustering, each on its own; phase 2 trains fusion layers that mix the sets per image, under all the pseudo-label
losses, while each image's mixing attention is pulled towards its nearest neighbours'. The result is an adapted
checkpoint folder (the base checkpoint's files plus the adapters) that ``cti_ir.index``, ``cti_ir.evaluate.evaluator``,
``SearchEngine`` and ``app.py`` accept; ``--granularity`` there chooses the fusion (default), one set or none.

After Grappa (Almazán et al., ECCV 2022); the adapter form, losses, cluster sizes and propagation rule are our
reconstruction (README, "Adapting to a shop's catalogue"). Each phase runs on the shared training loop (progress
bar, log.jsonl, atomic resumable state); everything lives in a work folder (default ``OUT.work``): ``--resume``
continues an interrupted adaptation and reuses every finished part, including the phase-1 adapter sets of an
earlier run with other phase-2 settings.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from cti_ir.model.adapter_files import AdapterError, write_adapted_checkpoint
from cti_ir.model.adapters import attach_adapters, granularity_name
from cti_ir.files import write_atomic, write_json_atomic
from cti_ir.flags import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, check_numeric_flags
from cti_ir.model.checkpoint import CheckpointError, load_checkpoint, read_checkpoint_config, save_checkpoint
from cti_ir.adapt.pseudo_labels import (
    DEFAULT_SERVING_GRANULARITY,
    check_granularities,
    check_serving_granularity,
    default_granularities,
    kmeans,
    nearest_neighbours,
    serving_granularity,
)

from training.adapt.data import AdaptationExamples, BadImagesError, PreparedImages, augmentation_for, prepare_images
from training.adapt.tasks import CosineClassifier, FusionTask, PseudoLabelTask, freeze
from training.common import HelpWithDefaults
from training.distributed import DistInfo
from training.loop import LoopConfig, Trainer

MANIFEST = "adapt_manifest.json"
RESULT = "result.safetensors"
DONE = "done.json"


def default_epochs(n_images: int, target_examples: int = 15_000) -> int:
    """Epochs per phase: about ``target_examples`` images seen, between 2 and 20 passes."""
    return int(min(20, max(2, round(target_examples / max(n_images, 1)))))


def _settings_key(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]


def _parse_granularities(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(granularity_name(v.strip())[1:]) for v in text.split(",") if v.strip()]
    except ValueError as e:
        raise ValueError(f"--granularities: {e}") from None


class Adaptation:
    """One adaptation run: the work folder, the prepared images, the pseudo-labels, the phases, the export."""

    def __init__(self, args: argparse.Namespace, device: torch.device):
        self.args, self.device = args, device
        self.work = Path(args.work or f"{args.out}.work")
        self.info = DistInfo(device=device)
        self.timings: dict[str, float] = {}
        self._n_images = 0               # set once the images are prepared
        self._preprocess_cfg: dict = {}  # the base model's, for the augmentation's normalisation constants

    # --------------------------------------------------------------------------------------------- setup
    def base_model(self):
        """A fresh copy of the frozen base model (every phase starts from one)."""
        model = load_checkpoint(self.args.checkpoint, device=self.device)
        freeze(model)
        return model

    def open_work(self, base) -> None:
        """Check the work folder belongs to this base model and image folder (or start it)."""
        manifest = {"base_fingerprint": base.fingerprint, "images": str(Path(self.args.images).resolve())}
        path = self.work / MANIFEST
        if self.args.overwrite and self.work.exists():
            shutil.rmtree(self.work)
        if path.is_file():
            if not self.args.resume:
                raise ValueError(f"{self.work} holds an earlier adaptation; pass --resume to continue it (finished "
                                 f"parts are reused) or --overwrite to start again")
            saved = json.loads(path.read_text(encoding="utf-8"))
            if saved != manifest:
                raise ValueError(f"{self.work} belongs to an adaptation of {saved.get('images')} with model "
                                 f"{saved.get('base_fingerprint')}; use another --work or --overwrite")
        write_json_atomic(path, manifest)

    def prepare(self, base) -> PreparedImages:
        start = time.perf_counter()
        images = prepare_images(base, self.args.images, self.work, self.args.skip_bad, self.args.batch_size,
                                self.args.cache_limit_gb, self.args.progress)
        self.timings["prepare_s"] = time.perf_counter() - start
        if images.skipped:
            self.say(f"skipped {len(images.skipped)} file(s) that are not readable images (listed in "
                     f"{self.work}/prepared/images.json), e.g. {images.skipped[0]['path']}: "
                     f"{images.skipped[0]['reason']}")
        self.say(f"{len(images)} images prepared ({'pixels cached' if images.pixels is not None else 'decoded each epoch'})")
        return images

    def pseudo_labels(self, features: np.ndarray, granularities: list[int]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Labels ``(N, M)`` and the centroids of each clustering, computed once and kept in the work folder."""
        start = time.perf_counter()
        labels, centroids = [], []
        for k in granularities:
            file = self.work / "pseudo_labels" / f"k{k}-seed{self.args.seed}-it{self.args.kmeans_iterations}.npz"
            if file.is_file():
                saved = np.load(file)
                lab, cen = saved["labels"], saved["centroids"]
            else:
                lab, cen = kmeans(features, k, seed=self.args.seed, iterations=self.args.kmeans_iterations)
                write_atomic(file, lambda tmp: _save_npz(tmp, labels=lab, centroids=cen))
            used = len(np.unique(lab))
            self.say(f"pseudo-labels k={k}: {used} non-empty clusters")
            labels.append(lab)
            centroids.append(cen)
        self.timings["pseudo_labels_s"] = time.perf_counter() - start
        return np.stack(labels, axis=1), centroids

    def loop_config(self, out: Path, epochs: int, lr: float, settings: dict) -> LoopConfig:
        a = self.args
        return LoopConfig(out=out, epochs=epochs, batch_size=min(a.batch_size, self._n_images), lr=lr,
                          weight_decay=a.weight_decay, warmup_steps=a.warmup_steps, grad_clip=a.grad_clip,
                          amp=a.amp, save_every=a.save_every, seed=a.seed, workers=a.workers,
                          eval_every_epoch=False, resume=True, progress=a.progress,
                          training_args={**{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()},
                                         "phase_settings": settings})

    # -------------------------------------------------------------------------------------------- phases
    def run_phase(self, name: str, settings: dict, model, task, epochs: int, lr: float) -> tuple[dict, float]:
        """Train ``task`` in its own folder (keyed by its settings) unless a finished run is there."""
        folder = self.work / f"{name}-{_settings_key(settings)}"
        done = folder / DONE
        if done.is_file():
            self.say(f"{name}: finished earlier, reused ({folder})")
            return load_file(str(folder / RESULT)), json.loads(done.read_text(encoding="utf-8"))["seconds"]
        # Timed from here: a phase resumed after an interruption counts only the time of its last part.
        start = time.perf_counter()
        trainer = Trainer(model, task, self.loop_config(folder, epochs, lr, settings), self.info)
        result = trainer.fit()
        seconds = time.perf_counter() - start
        state = {f"module.{k}": v.detach().cpu().contiguous() for k, v in trainer.module.state_dict().items()
                 if not k.startswith("model.backbone.") and not k.startswith("model.composer.")}
        if self.args.full_finetune:
            state.update({f"module.{k}": v.detach().cpu().contiguous()
                          for k, v in trainer.module.state_dict().items() if k.startswith("model.backbone.visual.")})
        write_atomic(folder / RESULT, lambda tmp: save_file(state, tmp))
        last = [r for r in _log(folder) if "loss" in r]
        write_json_atomic(done, {"seconds": seconds, "steps": result["steps"], "last_log": last[-1] if last else None,
                                 "settings": settings})
        return state, seconds

    def phase1_settings(self, k: int) -> dict:
        """Everything that determines adapter set ``k`` (its run folder is named after a hash of it)."""
        a = self.args
        return {"phase": 1, "k": k, "epochs": a.set_epochs, "lr": a.set_lr, "batch_size": a.batch_size,
                "temperature": a.temperature, "bottleneck": a.bottleneck, "seed": a.seed, "flip": a.flip,
                "augment": a.augment, "weight_decay": a.weight_decay, "warmup_steps": a.warmup_steps,
                "kmeans_iterations": a.kmeans_iterations, "fixed_prototypes": a.fixed_prototypes,
                "anchor_weight": a.anchor_weight}

    def phase1(self, k: int, column: int, images, labels, centroids) -> dict:
        a = self.args
        settings = self.phase1_settings(k)
        model = self.base_model()
        torch.manual_seed(a.seed * 1009 + k)
        attach_adapters(model, granularities=[k], fusion=False, adapter_kwargs=self.adapter_kwargs(model))
        task = PseudoLabelTask(f"adapt-k{k}", self.examples(images, labels), column, centroids,
                               a.temperature, not a.fixed_prototypes, a.anchor_weight)
        state, seconds = self.run_phase(f"set-k{k}", settings, model, task, a.set_epochs, a.set_lr)
        self.timings[f"set_k{k}_s"] = seconds
        return state

    def phase2(self, granularities, images, labels, set_states, neighbours) -> tuple[object, dict]:
        a = self.args
        settings = {"phase": 2, "sets": [_settings_key(self.phase1_settings(k)) for k in granularities],
                    "epochs": a.fusion_epochs, "lr": a.fusion_lr, "batch_size": a.batch_size,
                    "propagation_weight": a.propagation_weight, "neighbours": a.neighbours, "key_dim": a.key_dim,
                    "seed": a.seed, "flip": a.flip, "augment": a.augment, "weight_decay": a.weight_decay,
                    "warmup_steps": a.warmup_steps, "fixed_prototypes": a.fixed_prototypes,
                    "anchor_weight": a.anchor_weight, "balance_losses": a.balance_losses,
                    "freeze_fusion_heads": a.freeze_fusion_heads}
        model = self.base_model()
        torch.manual_seed(a.seed * 1009 + 1)
        adapters = attach_adapters(model, granularities=granularities, fusion=True,
                                   adapter_kwargs=self.adapter_kwargs(model), fusion_kwargs={"key_dim": a.key_dim})
        classifiers = []
        for m, state in enumerate(set_states):
            for key, value in state.items():
                if key.startswith("module.model.adapters.sets.0."):
                    target = f"sets.{m}." + key[len("module.model.adapters.sets.0."):]
                    adapters.state_dict()[target].copy_(value)
            # Frozen heads leave the fusion layers alone to lower the losses (the attention must do the work).
            classifiers.append(CosineClassifier(state["module.heads.classifier.weight"], a.temperature,
                                                not (a.fixed_prototypes or a.freeze_fusion_heads)))
        for s in adapters.sets:
            freeze(s)
        task = FusionTask("adapt-fusion", self.examples(images, labels), classifiers,
                          neighbours, a.propagation_weight, a.anchor_weight, a.balance_losses)
        state, seconds = self.run_phase("fusion", settings, model, task, a.fusion_epochs, a.fusion_lr)
        self.timings["fusion_s"] = seconds
        prefix = "module.model.adapters."
        adapters.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
        return model, settings

    def full_finetune(self, k: int, column: int, images, labels, centroids):
        """The benchmark's baseline: the whole image tower trained on one clustering, no adapters."""
        a = self.args
        settings = {**self.phase1_settings(k), "phase": "full", "lr": a.full_lr, "bottleneck": None}
        model = self.base_model()
        for p in model.backbone.visual.parameters():
            p.requires_grad_(True)
        frozen = self.base_model() if a.anchor_weight > 0 else None  # the anchor: a frozen copy of the tower
        task = PseudoLabelTask(f"finetune-k{k}", self.examples(images, labels), column,
                               centroids, a.temperature, not a.fixed_prototypes, a.anchor_weight, frozen)
        state, seconds = self.run_phase(f"finetune-k{k}", settings, model, task, a.set_epochs, a.full_lr)
        self.timings[f"finetune_k{k}_s"] = seconds
        prefix = "module.model.backbone."
        visual = {k2[len(prefix):]: v for k2, v in state.items() if k2.startswith(prefix)}
        model.backbone.load_state_dict(visual, strict=False)
        return model

    def examples(self, images, labels) -> AdaptationExamples:
        a = self.args
        augment = augmentation_for(self._preprocess_cfg, a.flip) if a.augment else None
        return AdaptationExamples(images, labels, a.seed, augment)

    def adapter_kwargs(self, model) -> dict:
        return {"bottleneck": self.args.bottleneck} if self.args.bottleneck else {}

    # ----------------------------------------------------------------------------------------------- run
    def run(self) -> dict:
        a = self.args
        total_start = time.perf_counter()
        base = self.base_model()
        if getattr(base, "adapters", None) is not None:
            raise ValueError(f"{a.checkpoint} is already adapted; adapt its base checkpoint instead")
        self._preprocess_cfg = base.preprocess_cfg
        self.open_work(base)
        images = self.prepare(base)
        self._n_images = len(images)
        granularities = check_granularities(_parse_granularities(a.granularities) or
                                            default_granularities(len(images)), len(images))
        a.set_epochs = a.set_epochs or default_epochs(len(images))
        a.fusion_epochs = a.fusion_epochs or default_epochs(len(images))
        self.say(f"granularities (clusters per adapter set): {granularities}; {a.set_epochs} epochs per set, "
                 f"{a.fusion_epochs} for the fusion")
        labels, centroids = self.pseudo_labels(images.features, granularities)
        if a.full_finetune:
            if a.full_finetune not in granularities:
                raise ValueError(f"--full-finetune {a.full_finetune} is not one of the granularities {granularities}")
            column = granularities.index(a.full_finetune)
            model = self.full_finetune(a.full_finetune, column, images, labels, centroids[column])
            save_checkpoint(model, a.out, training_args=_jsonable(vars(a)),
                            metrics=self.metrics(images, granularities, None, total_start))
            return self.metrics(images, granularities, None, total_start)
        set_states = [self.phase1(k, m, images, labels, centroids[m]) for m, k in enumerate(granularities)]
        start = time.perf_counter()
        neighbours = nearest_neighbours(images.features, a.neighbours)
        self.timings["neighbours_s"] = time.perf_counter() - start
        model, _ = self.phase2(granularities, images, labels, set_states, neighbours)
        model.adapters.base_fingerprint = base.fingerprint
        model.adapters.default = serving_granularity(a.default_granularity, granularities)
        self.say(f"default granularity of the adapted checkpoint: {model.adapters.default}")
        metrics = self.metrics(images, granularities, model, total_start)
        write_adapted_checkpoint(a.checkpoint, model, a.out, training_args=_jsonable(vars(a)), metrics=metrics,
                                 extra={"adaptation": {"images": len(images), "granularities": granularities,
                                                       "propagation_weight": a.propagation_weight}})
        return metrics

    def metrics(self, images, granularities, model, start) -> dict:
        out = {"images": len(images), "skipped": len(images.skipped), "granularities": granularities,
               "seconds": {**{k: round(v, 2) for k, v in self.timings.items()},
                           "total": round(time.perf_counter() - start, 2)}}
        if model is not None:
            out["added_parameters"] = model.adapters.count_parameters()
            out["base_image_parameters"] = sum(p.numel() for p in model.backbone.visual.parameters())
        return out

    def say(self, message: str) -> None:
        print(f"[adapt] {message}", file=sys.stderr)


def _save_npz(path: str, **arrays) -> None:
    with open(path, "wb") as f:  # through a file: np.savez(path) would append ".npz" to the temporary name
        np.savez(f, **arrays)


def _log(folder: Path) -> list[dict]:
    log = folder / "log.jsonl"
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()] \
        if log.is_file() else []


def _jsonable(args: dict) -> dict:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in args.items()}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.adapt", description=__doc__.split("\n\n")[0],
                                formatter_class=HelpWithDefaults)
    g = p.add_argument_group("what to adapt")
    g.add_argument("--checkpoint", required=True, help="the model to adapt (a cti-ir checkpoint folder, e.g. "
                                                        "demo_model); it stays frozen")
    g.add_argument("--images", required=True,
                   help="folder of the shop's unlabeled photos (searched recursively; folder names are not used)")
    g.add_argument("--out", required=True, help="adapted checkpoint folder to write (the base files + adapters)")
    g.add_argument("--work", default=None,
                   help="work folder: prepared images, pseudo-labels, each phase's run and resumable state "
                        "(default: OUT.work)")
    g.add_argument("--skip-bad", action="store_true",
                   help="leave out files that are not readable images (listed in WORK/prepared/images.json) "
                        "instead of stopping with the list")
    g.add_argument("--resume", action="store_true",
                   help="continue the adaptation in the work folder: finished parts are reused, an interrupted "
                        "phase continues where it stopped (refused when the work folder holds none)")
    g.add_argument("--overwrite", action="store_true", help="delete the work folder and start again")
    k = p.add_argument_group("pseudo-granularities")
    k.add_argument("--granularities", default=None,
                   help="comma-separated cluster counts, one adapter set each (e.g. 8,64,512); default: 8, 32, "
                        "128, ... up to a quarter of the number of images, at most 5 sets")
    k.add_argument("--kmeans-iterations", type=int, default=25, help="k-means iterations per clustering")
    k.add_argument("--full-finetune", type=int, default=None, metavar="K",
                   help="baseline instead of adapters: fine-tune the whole image tower on the K-cluster "
                        "pseudo-labels (K must be one of the granularities) and write a plain checkpoint")
    m = p.add_argument_group("adapters and fusion")
    m.add_argument("--bottleneck", type=int, default=None,
                   help="adapter bottleneck width (default: a quarter of the tower's width)")
    m.add_argument("--key-dim", type=int, default=32, help="query/key width of the fusion attention")
    m.add_argument("--temperature", type=float, default=0.05,
                   help="temperature of the normalised-softmax pseudo-label classifiers")
    m.add_argument("--fixed-prototypes", action="store_true",
                   help="keep each pseudo-label classifier's class prototypes at the k-means centroids of the frozen "
                        "features (only the adapters move) instead of learning them")
    # 5: without it every adapter set drifted far enough to cost the coarse tasks points (README, what we tried).
    m.add_argument("--anchor-weight", type=float, default=5.0,
                   help="weight of a loss keeping each training image's adapted feature close to the frozen "
                        "model's feature of the same image (1 - cosine; one more forward pass); 0 disables it")
    m.add_argument("--propagation-weight", type=float, default=1.0,
                   help="weight of the neighbour-propagation loss in phase 2 (0: fusion without propagation)")
    m.add_argument("--freeze-fusion-heads", action="store_true",
                   help="phase 2: keep each clustering's classifier as phase 1 left it, so that only the fusion "
                        "layers learn")
    m.add_argument("--balance-losses", action="store_true",
                   help="phase 2: divide each clustering's loss by log(k), its chance level, so that the finest "
                        "clusterings do not dominate the fusion")
    m.add_argument("--default-granularity", default=DEFAULT_SERVING_GRANULARITY,
                   help="the space the adapted checkpoint serves unless told otherwise (\"More like this\", index "
                        "build without --granularity): coarsest (the set of fewest clusters), fusion, off (the "
                        "unadapted encoder) or one set such as k8; the benchmarks behind that choice are in "
                        "docs/results/adaptation.md (the fusion lost to the unadapted encoder there)")
    m.add_argument("--neighbours", type=int, default=10,
                   help="nearest neighbours (frozen features) whose attentions each image is pulled towards")
    o = p.add_argument_group("optimisation")
    o.add_argument("--set-epochs", type=int, default=None,
                   help="epochs per adapter set in phase 1 (default: about 15,000 images seen, 2 to 20 epochs)")
    o.add_argument("--fusion-epochs", type=int, default=None, help="epochs of phase 2 (default: as --set-epochs)")
    o.add_argument("--set-lr", type=float, default=1e-3, help="peak learning rate of the adapter sets")
    o.add_argument("--fusion-lr", type=float, default=1e-3, help="peak learning rate of the fusion layers")
    o.add_argument("--full-lr", type=float, default=1e-4, help="peak learning rate of --full-finetune")
    o.add_argument("--batch-size", type=int, default=64, help="images per step (also when preparing them)")
    o.add_argument("--weight-decay", type=float, default=0.05, help="AdamW weight decay (not on biases and norms)")
    o.add_argument("--warmup-steps", type=int, default=50, help="linear warm-up steps of each phase")
    o.add_argument("--grad-clip", type=float, default=1.0, help="max gradient norm (0 disables clipping)")
    # Off by default: on the benchmark, every augmented recipe lost the category task (README, what we tried).
    o.add_argument("--augment", action="store_true",
                   help="train on randomly changed photos (scale, rotation, shift, mirror, brightness, noise; never "
                        "colour) instead of the images as they are")
    o.add_argument("--no-flip", dest="flip", action="store_false",
                   help="with --augment: do not mirror images (e.g. when left and right matter)")
    o.add_argument("--no-amp", dest="amp", action="store_false", help="disable bf16 autocast on GPU")
    o.add_argument("--save-every", type=int, default=100, help="steps between resumable states of a phase")
    o.add_argument("--seed", type=int, default=0, help="seed of k-means, adapter initialisation and data order")
    r = p.add_argument_group("resources")
    r.add_argument("--cache-limit-gb", type=float, default=4.0,
                   help="keep the preprocessed pixels in the work folder (float16) when they take at most this "
                        "much; above it, images are decoded again each epoch")
    r.add_argument("--workers", type=int, default=0, help="data-loader processes (useful without the pixel cache)")
    r.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    r.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    r.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    return p


#: The allowed values of the numeric flags.
ADAPT_BOUNDS = {
    "kmeans_iterations": AT_LEAST_ONE, "full_finetune": AT_LEAST_ONE, "bottleneck": AT_LEAST_ONE,
    "key_dim": AT_LEAST_ONE, "temperature": POSITIVE, "anchor_weight": NON_NEGATIVE,
    "propagation_weight": NON_NEGATIVE, "neighbours": AT_LEAST_ONE, "set_epochs": AT_LEAST_ONE,
    "fusion_epochs": AT_LEAST_ONE, "set_lr": POSITIVE, "fusion_lr": POSITIVE, "full_lr": POSITIVE,
    "batch_size": AT_LEAST_ONE, "weight_decay": NON_NEGATIVE, "warmup_steps": NON_NEGATIVE,
    "grad_clip": NON_NEGATIVE, "save_every": AT_LEAST_ONE, "seed": NON_NEGATIVE, "cache_limit_gb": NON_NEGATIVE,
    "workers": NON_NEGATIVE, "threads": AT_LEAST_ONE,
}


def check_flags(args: argparse.Namespace) -> None:
    """Everything about the flags that can be checked before the model loads: numbers, contradictions, the
    checkpoint folder, and --resume with nothing to resume."""
    check_numeric_flags(args, ADAPT_BOUNDS)
    if args.resume and args.overwrite:
        raise ValueError("--resume and --overwrite contradict each other; choose one")
    granularities = _parse_granularities(args.granularities)
    check_serving_granularity(args.default_granularity)
    if granularities:
        serving_granularity(args.default_granularity, granularities)
    read_checkpoint_config(args.checkpoint)
    work = Path(args.work or f"{args.out}.work")
    if args.resume and not (work / MANIFEST).is_file():
        raise ValueError(f"--resume: {work} holds no adaptation to continue (no {MANIFEST}); leave out --resume to "
                         f"start one")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        check_flags(args)
    except (CheckpointError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
        import faiss

        faiss.omp_set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    try:
        metrics = Adaptation(args, device).run()
    except (CheckpointError, AdapterError, BadImagesError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    what = "fine-tuned (baseline)" if args.full_finetune else "adapted"
    print(f"done: {what} checkpoint in {args.out} ({metrics['images']} images, granularities "
          f"{metrics['granularities']}, {metrics['seconds']['total']:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
