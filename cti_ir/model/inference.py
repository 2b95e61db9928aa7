"""Inference backends: what runs a checkpoint's image and text towers when it answers queries or builds an index.

``--backend`` (``python app.py``, ``python -m cti_ir.index build``):

- ``torch``: PyTorch, the reference;
- ``onnx``: ONNX Runtime on the fp32 export (``python -m cti_ir.model.onnx_export``), the same outputs to ~1e-7;
- ``onnx-int8``: ONNX Runtime on the int8 export (dynamic quantisation), faster and slightly different;
- ``auto``: the fastest, timed here on a composed query, among those that meet the accuracy bar recorded for
  the export by ``python -m cti_ir.evaluate.backend_check`` (R@10 within ``MAX_R10_DROP`` of PyTorch fp32, and
  result lists that keep ``MIN_LIST_RECALL`` of PyTorch's top 10); fp32 needs no record (its round trip is exact),
  int8 is never chosen without one.

Without ONNX Runtime installed (it is the optional ``onnx`` extra) every backend runs on PyTorch, after a one-line
notice. The ONNX backends also run the exported composer (fp32) where the export holds one, for compositions with
the composer's own weights; manual weights, and exports without a composer, compose in PyTorch.
``load_inference_model`` returns an :class:`InferenceModel`: the loaded ``CIRModel`` with its towers (and composer)
on the backend and a text-embedding cache (``cti_ir.model.text_cache``) in front of the text tower; everything else
is the model's own.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from cti_ir.model.backend_flags import BACKENDS
from cti_ir.model.checkpoint import load_checkpoint, read_checkpoint_config
from cti_ir.model.onnx_backend import (
    CONFIG_FILE,
    INSTALL_HINT,
    PRECISIONS,
    OnnxError,
    default_onnx_dir,
    export_command,
    load_composer,
    load_towers,
    onnxruntime_available,
    read_accuracy,
    read_onnx_config,
)
from cti_ir.model.text_cache import DEFAULT_CAPACITY, TextEmbeddingCache, normaliser_for

#: The accuracy bar of ``auto``: the most R@10 (points, on every layout measured) a backend may lose against
#: PyTorch fp32, and the least share of PyTorch's top-10 result lists it must return.
MAX_R10_DROP = 0.3
MIN_LIST_RECALL = 0.98
#: ``auto`` times each candidate on this many composed queries at least, taking turns, and stops after the
#: ``AUTO_TIME_BUDGET_S`` seconds once it has them.
AUTO_ROUNDS = 3
AUTO_TIME_BUDGET_S = 3.0
AUTO_PROBE_TEXT = "is red and has long sleeves"


def notice(message: str) -> None:
    """The one-line notices of this module (a backend not available, what ``auto`` chose), on stderr."""
    print(f"notice: {message}", file=sys.stderr, flush=True)


class InferenceModel:
    """A ``CIRModel`` whose towers run on an inference backend, with a text-embedding cache; otherwise the model.

    Attributes it does not have itself are the model's (``preprocess``, ``compose``, ``fingerprint``, ``device``,
    ``adapters``...), and setting one sets the model's, so code written for a ``CIRModel`` (the search engine, the
    index build, the evaluator) takes either. ``image_encodes`` and ``text_encodes`` count the images and texts
    that really went through a tower (cache hits and stored vectors do not).
    """

    _OWN = frozenset({"_model", "backend", "image_tower", "text_tower", "text_cache", "image_encodes",
                      "text_encodes", "onnx_composer"})

    def __init__(self, model, backend: str = "torch", image_tower: Callable | None = None,
                 text_tower: Callable | None = None, text_cache: TextEmbeddingCache | None = None,
                 onnx_composer: Callable | None = None):
        object.__setattr__(self, "_model", model)
        self.backend = backend
        self.image_tower = image_tower
        self.text_tower = text_tower
        self.text_cache = text_cache
        self.onnx_composer = onnx_composer
        self.image_encodes = 0
        self.text_encodes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(object.__getattribute__(self, "_model"), name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._OWN:
            object.__setattr__(self, name, value)
        else:
            setattr(self._model, name, value)

    @property
    def model(self):
        """The PyTorch ``CIRModel`` underneath."""
        return self._model

    def eval(self) -> InferenceModel:
        self._model.eval()
        return self

    @property
    def cache_key(self) -> str:
        """What the text cache is bound to: the model's current fingerprint and this backend."""
        return f"{self._model.fingerprint}/{self.backend}"

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        """L2-normalised image embeddings of preprocessed pixels ``(N, 3, H, W)``, on the backend."""
        self.image_encodes += int(pixels.shape[0])
        if self.image_tower is None:
            return self._model.encode_images(pixels)
        return self.image_tower(pixels)

    def encode_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """L2-normalised text embeddings of token ids, on the backend."""
        if self.text_tower is None:
            return self._model.encode_tokens(tokens)
        return self.text_tower(tokens)

    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """L2-normalised text embeddings of strings: from the cache, or from the text tower (then cached)."""
        texts = list(texts)
        if self.text_cache is not None:
            features = self.text_cache.encode_texts(texts, self.encode_texts_uncached, self.cache_key)
        else:
            features = self.encode_texts_uncached(texts)
        features = features.to(self._model.device)
        memo = getattr(self._model, "text_memo", None)
        if memo is not None:  # a composer that reads the raw texts finds them again in compose
            memo.remember(features, texts)
        return features

    def encode_texts_uncached(self, texts: Sequence[str]) -> torch.Tensor:
        """The text tower's embeddings of ``texts``, bypassing the cache."""
        self.text_encodes += len(texts)
        return self.encode_tokens(self._model.tokenize(list(texts)).to(self._model.device))

    def compose(self, image_features: torch.Tensor, text_features: torch.Tensor,
                weights: tuple[torch.Tensor, torch.Tensor] | None = None, texts: Sequence[str] | None = None):
        """``CIRModel.compose``, on the exported composer when there is one and the composer's own weights are
        used (manual ``weights`` and composers that read the texts compose in PyTorch)."""
        if (self.onnx_composer is not None and weights is None and getattr(self._model, "text_memo", None) is None
                and image_features.device.type == "cpu"):
            return self.onnx_composer(image_features, text_features)
        return self._model.compose(image_features, text_features, weights, texts)

    def describe_backend(self) -> str:
        """The backend in words, e.g. ``"onnx (image and text towers and composer on ONNX Runtime)"``."""
        on_ort = [name for name, tower in (("image", self.image_tower), ("text", self.text_tower)) if tower]
        if not on_ort:
            return f"{self.backend} (PyTorch)"
        composer = " and composer" if self.onnx_composer is not None else ""
        return (f"{self.backend} ({' and '.join(on_ort)} tower{'s' if len(on_ort) > 1 else ''}{composer} on ONNX "
                f"Runtime)")


def load_inference_model(checkpoint: str | Path, backend: str = "torch", device: str = "cpu",
                         onnx_dir: str | Path | None = None, text_cache_size: int = DEFAULT_CAPACITY,
                         notify: Callable[[str], None] = notice) -> InferenceModel:
    """Load ``checkpoint`` and put its towers on ``backend`` (see the module docstring).

    ``onnx_dir`` is the export folder (default ``CHECKPOINT/onnx``). Raises ``CheckpointError`` or
    :class:`~cti_ir.model.onnx_backend.OnnxError` with one sentence: an export of another checkpoint, a changed
    file, an ONNX backend asked for on a GPU or without an export. ``auto`` never raises for the export: it says
    why in a notice and runs on PyTorch.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    return with_backend(load_checkpoint(checkpoint, device=device), backend, checkpoint, onnx_dir, text_cache_size,
                        notify)


def with_backend(model, backend: str, checkpoint: str | Path, onnx_dir: str | Path | None = None,
                 text_cache_size: int = DEFAULT_CAPACITY, notify: Callable[[str], None] = notice) -> InferenceModel:
    """An already loaded ``model`` (from ``checkpoint``) on ``backend``; see :func:`load_inference_model`."""
    cache = TextEmbeddingCache(text_cache_size, normaliser_for(model.tokenizer)) if text_cache_size else None
    if backend == "torch":
        return InferenceModel(model, "torch", text_cache=cache)
    if not onnxruntime_available():
        notify(f"onnxruntime is not installed, so --backend {backend} runs on PyTorch ({INSTALL_HINT} for the "
               f"faster ONNX Runtime backends)")
        return InferenceModel(model, "torch", text_cache=cache)
    if torch.device(model.device).type != "cpu":
        if backend == "auto":
            notify(f"the model is on {model.device}: --backend auto runs on PyTorch (ONNX Runtime runs on the CPU)")
            return InferenceModel(model, "torch", text_cache=cache)
        raise OnnxError(f"--backend {backend} runs on the CPU, the model is on {model.device}; use --backend torch")
    folder = Path(onnx_dir) if onnx_dir is not None else default_onnx_dir(checkpoint)
    fingerprint = read_checkpoint_config(checkpoint)["fingerprint"]
    if backend == "auto":
        return _auto(model, checkpoint, folder, fingerprint, cache, notify)
    precision = PRECISIONS[backend]
    config = read_onnx_config(folder, fingerprint, checkpoint, precisions=(precision,))
    if precision not in config["towers"]["text"]["files"]:
        raise OnnxError(f"the ONNX export in {folder} has no {precision} towers; export them: "
                        f"{export_command(checkpoint, folder)} --precisions fp32 int8")
    if config["towers"].get("image") is None:
        notify("the image tower has adapters (an adapted checkpoint): it runs in PyTorch, the text tower on "
               "ONNX Runtime")
    return InferenceModel(model, backend, *load_towers(config, precision), text_cache=cache,
                          onnx_composer=load_composer(config))


def eligible_backends(config: dict[str, Any], accuracy: dict[str, Any] | None) -> tuple[list[str], dict[str, str]]:
    """The backends ``auto`` may choose for an export, and why each other one is left out."""
    chosen, left_out = ["torch"], {}
    measured = (accuracy or {}).get("backends", {})
    for backend, precision in PRECISIONS.items():
        if precision not in config["towers"]["text"]["files"]:
            left_out[backend] = "not exported"
        elif backend in measured:
            if measured[backend].get("meets_bar"):
                chosen.append(backend)
            else:
                left_out[backend] = f"below the accuracy bar ({measured[backend].get('summary', 'see accuracy.json')})"
        elif precision == "fp32":
            chosen.append(backend)  # the export's round trip checked it gives PyTorch's outputs
        else:
            left_out[backend] = "its accuracy was never measured (python -m cti_ir.evaluate.backend_check)"
    return chosen, left_out


def _auto(model, checkpoint, folder: Path, fingerprint: str, cache, notify) -> InferenceModel:
    """``--backend auto``: the fastest eligible backend, timed now; PyTorch (with a notice) when there is no
    usable export."""
    torch_model = InferenceModel(model, "torch", text_cache=cache)
    if not (folder / CONFIG_FILE).is_file():
        notify(f"no ONNX export in {folder}, so --backend auto runs on PyTorch (export one with: "
               f"{export_command(checkpoint, folder)})")
        return torch_model
    try:
        config = read_onnx_config(folder, fingerprint, checkpoint, verify=False)
        candidates, left_out = eligible_backends(config, read_accuracy(folder, config))
        config = read_onnx_config(folder, fingerprint, checkpoint,
                                  precisions=tuple(PRECISIONS[b] for b in candidates if b != "torch"))
    except OnnxError as e:
        notify(f"--backend auto runs on PyTorch: {e}")
        return torch_model
    models = {"torch": torch_model}
    for backend in candidates[1:]:
        models[backend] = InferenceModel(model, backend, *load_towers(config, PRECISIONS[backend]), text_cache=cache,
                                         onnx_composer=load_composer(config))
    timings = time_composed_query(models)
    best = min(timings, key=timings.get)
    others = ", ".join(f"{b} {timings[b] * 1000:.1f} ms" for b in timings if b != best)
    skipped = "; ".join(f"{b}: {why}" for b, why in left_out.items())
    notify(f"--backend auto chose {best}: a composed query took {timings[best] * 1000:.1f} ms"
           f"{' against ' + others if others else ''} (timed now){'; left out ' + skipped if skipped else ''}")
    return models[best]


@torch.no_grad()
def time_composed_query(models: dict[str, InferenceModel], rounds: int = AUTO_ROUNDS,
                        budget_s: float = AUTO_TIME_BUDGET_S) -> dict[str, float]:
    """Median seconds of one composed query (image + text encoded, composed) per backend, taking turns."""
    first = next(iter(models.values()))
    size = tuple(first.preprocess_cfg.get("size", (224, 224)))
    pixels = torch.randn((1, 3, *size), generator=torch.Generator().manual_seed(0)).to(first.device)

    def query(m: InferenceModel) -> None:
        text = m.encode_texts_uncached([AUTO_PROBE_TEXT])  # the cache would time a lookup, not the tower
        m.compose(m.encode_images(pixels), text, texts=[AUTO_PROBE_TEXT])

    for m in models.values():
        query(m)  # warm-up: kernel selection, first allocations
    seconds: dict[str, list[float]] = {name: [] for name in models}
    start = time.perf_counter()
    while len(seconds[first.backend]) < rounds or (time.perf_counter() - start < budget_s and
                                                    len(seconds[first.backend]) < 4 * rounds):
        for name, m in models.items():
            t0 = time.perf_counter()
            query(m)
            seconds[name].append(time.perf_counter() - t0)
    for m in models.values():  # the probe's encodings are not the caller's work
        m.image_encodes, m.text_encodes = 0, 0
    return {name: statistics.median(values) for name, values in seconds.items()}

