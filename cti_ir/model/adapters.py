"""Granularity adapters for the image tower: several residual adapter sets and a fusion that mixes them per image.

The label-free adaptation (Grappa, Almazán et al., ECCV 2022; ``python -m training.adapt``) trains one *adapter set*
per pseudo-granularity (a k-means clustering of the frozen features with k clusters), then *fusion layers* that
mix the sets with a per-image attention. What the paper's available text confirms and what is our reconstruction
is listed in the README ("Adapting to a shop's catalogue"); in short, ours: the adapter form and placement, the
fusion's form, the losses and the propagation rule.

How they attach: a forward hook on every transformer block of the image tower adds the adapters' output to the
block's output. Hooks wrap without editing: open_clip's code and the backbone's parameter names are untouched, so
the base half of an adapted checkpoint stays a valid, byte-identical open_clip folder, and the adapters can be
detached again. Every adapter starts as the identity (zero-initialised last layer), so an adapted model with fresh
adapters gives exactly the frozen model's features.

Which granularity the tower uses is chosen per call, thread-safely (a ``ContextVar``): ``"fusion"`` (all sets mixed
by the fusion layers, the default of a trained model), ``"k64"`` (the single set trained on 64 clusters) or
``"off"`` (the frozen model)::

    with model.adapters.using("k64"):
        features = model.encode_images(pixels)
"""

from __future__ import annotations

import contextlib
import math
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator, Sequence

import torch
from torch import nn

FUSION = "fusion"
OFF = "off"


class BottleneckAdapter(nn.Module):
    """Residual bottleneck adapter (Houlsby et al. 2019 style): ``x -> up(act(down(norm(x))))``, added to ``x``.

    ``up`` starts at zero, so the adapter's output starts at zero and the block it follows is unchanged.
    """

    def __init__(self, dim: int, bottleneck: int = 32, activation: str = "gelu"):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.down = nn.Linear(dim, bottleneck)
        self.act = {"gelu": nn.GELU(), "relu": nn.ReLU()}[activation]
        self.up = nn.Linear(bottleneck, dim)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The residual to add to ``x`` (same shape)."""
        return self.up(self.act(self.down(self.norm(x))))


#: Adapter kinds by registry name (the name and keyword arguments are saved with the weights).
ADAPTERS = {"bottleneck": BottleneckAdapter}


def build_adapter(name: str, dim: int, **kwargs) -> nn.Module:
    """An adapter of registry kind ``name`` for a residual stream of width ``dim``."""
    try:
        cls = ADAPTERS[name]
    except KeyError:
        raise ValueError(f"unknown adapter {name!r}; available: {', '.join(sorted(ADAPTERS))}") from None
    return cls(dim, **kwargs)


class GranularityFusion(nn.Module):
    """Attention of one image over M adapter sets in one block (AdapterFusion-style, reduced to one weight per image).

    The query is the block's output averaged over tokens, the keys are each set's residual averaged over tokens;
    a softmax over the M sets gives the image's *pseudo-granularity attention*, which weighs the sets' residuals
    for every token of that image. The key projection starts at zero, so every set starts with weight 1/M.
    """

    def __init__(self, dim: int, n_sets: int, key_dim: int = 32):
        super().__init__()
        self.n_sets = n_sets
        self.query = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, key_dim))
        self.key_norm = nn.LayerNorm(dim)
        self.key = nn.Linear(dim, key_dim)
        nn.init.zeros_(self.key.weight)
        nn.init.zeros_(self.key.bias)
        self.scale = 1.0 / math.sqrt(key_dim)

    def forward(self, pooled: torch.Tensor, pooled_residuals: torch.Tensor) -> torch.Tensor:
        """Attention ``(N, M)`` (rows sum to one) from ``pooled`` ``(N, D)`` and ``pooled_residuals`` ``(N, M, D)``."""
        q = self.query(pooled)                                     # (N, K)
        k = self.key(self.key_norm(pooled_residuals))              # (N, M, K)
        logits = torch.einsum("nk,nmk->nm", q, k) * self.scale
        return logits.softmax(dim=-1)


def granularity_name(value: str | int) -> str:
    """The canonical name of a granularity: ``"fusion"``, ``"off"`` or ``"k<clusters>"`` (``64`` -> ``"k64"``)."""
    text = str(value).strip().lower()
    if text in (FUSION, OFF):
        return text
    digits = text[1:] if text.startswith("k") else text
    if not digits.isdigit() or int(digits) < 2:
        raise ValueError(f"unknown granularity {value!r}: use 'fusion', 'off' or a number of clusters such as 64")
    return f"k{int(digits)}"


@dataclass
class AdapterConfig:
    """Everything needed to rebuild an :class:`ImageAdapters` (saved as JSON beside the weights)."""

    granularities: list[int]                     # clusters of each adapter set's pseudo-labels, one set per entry
    dim: int                                     # width of the tower's residual stream
    n_blocks: int                                # transformer blocks of the tower (one adapter per block and set)
    adapter: str = "bottleneck"                  # registry name in ADAPTERS
    adapter_kwargs: dict[str, Any] = field(default_factory=dict)
    fusion: bool = True                          # whether the fusion layers exist (after phase 2)
    fusion_kwargs: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "AdapterConfig":
        known = set(cls.__dataclass_fields__)
        unknown = set(obj) - known
        if unknown:
            raise ValueError(f"unknown adapter config fields {sorted(unknown)}")
        return cls(**obj)


def transformer_blocks(model) -> tuple[nn.ModuleList, bool]:
    """The image tower's transformer blocks and whether they take batch-first tokens.

    Adapters need an open_clip ViT tower (``visual.transformer.resblocks``); other towers are refused clearly.
    """
    visual = model.backbone.visual
    transformer = getattr(visual, "transformer", None)
    blocks = getattr(transformer, "resblocks", None)
    if not isinstance(blocks, nn.ModuleList) or len(blocks) == 0:
        raise ValueError(f"the image tower ({type(visual).__name__}) has no transformer blocks "
                         f"(visual.transformer.resblocks); adapters support open_clip ViT image towers")
    return blocks, bool(getattr(transformer, "batch_first", True))


class ImageAdapters(nn.Module):
    """M adapter sets (one adapter per block each) and, optionally, per-block fusion layers.

    Attach to a ``CIRModel`` with :func:`attach_adapters`; the model then holds it as ``model.adapters``.
    """

    def __init__(self, config: AdapterConfig, default: str | None = None):
        super().__init__()
        if len(set(config.granularities)) != len(config.granularities) or not config.granularities:
            raise ValueError(f"granularities must be distinct cluster counts, got {config.granularities}")
        self.config = config
        self.sets = nn.ModuleList(
            nn.ModuleList(build_adapter(config.adapter, config.dim, **config.adapter_kwargs)
                          for _ in range(config.n_blocks))
            for _ in config.granularities)
        self.fusion = nn.ModuleList(
            GranularityFusion(config.dim, len(config.granularities), **config.fusion_kwargs)
            for _ in range(config.n_blocks)) if config.fusion else None
        self.default = granularity_name(default or (FUSION if config.fusion else f"k{config.granularities[0]}"))
        self.check(self.default)
        # Per-context override of the default (thread-safe: each thread and each copied context has its own).
        self._override: ContextVar[str | None] = ContextVar(f"cti_ir_granularity_{id(self)}", default=None)
        self._handles: list = []
        self._batch_first = True
        self._recorded: list[torch.Tensor] | None = None
        # Set when the adapters are loaded or saved (cti_ir.model.adapter_files): the fingerprints of the model they fit
        # and of the adapted checkpoint holding them, from which each granularity's fingerprint is derived.
        self.base_fingerprint: str | None = None
        self.adapted_fingerprint: str | None = None

    # ------------------------------------------------------------------------------------------- granularity
    @property
    def names(self) -> list[str]:
        """Every granularity this model can serve: the fusion (if trained), each set, and ``"off"``."""
        return ([FUSION] if self.fusion is not None else []) + [f"k{k}" for k in self.config.granularities] + [OFF]

    def check(self, name: str) -> str:
        """``name`` (canonical) if these adapters can serve it; a ``ValueError`` listing the choices otherwise."""
        if name == FUSION and self.fusion is None:
            raise ValueError("these adapters have no fusion layers (only single sets); choose one of "
                             + ", ".join(self.names))
        if name not in (FUSION, OFF) and int(name[1:]) not in self.config.granularities:
            raise ValueError(f"no adapter set for granularity {name}; available: {', '.join(self.names)}")
        return name

    def current(self) -> str:
        """The granularity the tower uses in this context."""
        return self._override.get() or self.default

    @contextlib.contextmanager
    def using(self, granularity: str | int) -> Iterator[None]:
        """Use ``granularity`` for every image encoded inside the ``with`` block (this thread/context only)."""
        token = self._override.set(self.check(granularity_name(granularity)))
        try:
            yield
        finally:
            self._override.reset(token)

    # ---------------------------------------------------------------------------------------------- attention
    @contextlib.contextmanager
    def recording(self) -> Iterator[list[torch.Tensor]]:
        """Collect the fusion attentions ``(N, M)`` of each block computed inside the block (for training)."""
        self._recorded = []
        try:
            yield self._recorded
        finally:
            self._recorded = None

    # ----------------------------------------------------------------------------------------------- hooks
    def attach(self, model) -> "ImageAdapters":
        """Hook into ``model``'s image tower (its blocks must match the config)."""
        blocks, self._batch_first = transformer_blocks(model)
        if len(blocks) != self.config.n_blocks:
            raise ValueError(f"the adapters were made for {self.config.n_blocks} blocks, the tower has {len(blocks)}")
        self.detach()
        self._handles = [block.register_forward_hook(self._hook(b)) for b, block in enumerate(blocks)]
        return self

    def detach(self) -> None:
        """Remove the hooks (the tower is the frozen model again)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _hook(self, block: int):
        def hook(_module, _args, output):
            return self.adapt(block, output)
        return hook

    def adapt(self, block: int, x: torch.Tensor) -> torch.Tensor:
        """Block ``block``'s output ``x`` plus the residual of the current granularity."""
        name = self.current()
        if name == OFF:
            return x
        if name != FUSION:
            return x + self.sets[self.config.granularities.index(int(name[1:]))][block](x)
        token_dim = 1 if self._batch_first else 0
        residuals = torch.stack([s[block](x) for s in self.sets])           # (M, *x.shape)
        attention = self.fusion[block](x.mean(dim=token_dim), residuals.mean(dim=token_dim + 1).transpose(0, 1))
        if self._recorded is not None:
            self._recorded.append(attention)
        # (N, M) -> (M, N, 1, 1) batch-first, or (M, 1, N, 1) sequence-first, to weigh each set's residual.
        weights = attention.t()[:, None, :, None] if not self._batch_first else attention.t()[:, :, None, None]
        return x + (weights * residuals).sum(dim=0)

    # -------------------------------------------------------------------------------------------- helpers
    def set_parameters(self, index: int) -> list[nn.Parameter]:
        """The parameters of adapter set ``index`` (phase 1 trains one set at a time)."""
        return list(self.sets[index].parameters())

    def fusion_parameters(self) -> list[nn.Parameter]:
        """The fusion layers' parameters (phase 2 trains only these)."""
        return list(self.fusion.parameters()) if self.fusion is not None else []

    def count_parameters(self) -> dict[str, int]:
        """Parameters per adapter set, in the fusion layers, and in all."""
        per_set = [sum(p.numel() for p in s.parameters()) for s in self.sets]
        fusion = sum(p.numel() for p in self.fusion_parameters())
        return {"per_set": per_set[0], "sets": sum(per_set), "fusion": fusion, "total": sum(per_set) + fusion}


def attach_adapters(model, config: AdapterConfig | None = None, *, granularities: Sequence[int] = (),
                    adapter: str = "bottleneck", adapter_kwargs: dict | None = None, fusion: bool = True,
                    fusion_kwargs: dict | None = None, default: str | None = None) -> ImageAdapters:
    """Create identity adapters for ``model``'s image tower (or from ``config``) and attach them as ``model.adapters``.

    The model's own parameters are not changed; freezing them is the trainer's business.
    """
    if getattr(model, "adapters", None) is not None:
        raise ValueError("the model already has adapters; detach them first (model.adapters.detach())")
    blocks, _ = transformer_blocks(model)
    if config is None:
        width = getattr(model.backbone.visual.transformer, "width", None) or blocks[0].ln_1.normalized_shape[0]
        config = AdapterConfig(granularities=[int(k) for k in granularities], dim=int(width), n_blocks=len(blocks),
                               adapter=adapter, adapter_kwargs=dict(adapter_kwargs or {}), fusion=fusion,
                               fusion_kwargs=dict(fusion_kwargs or {}))
    return install_adapters(model, ImageAdapters(config, default))


def install_adapters(model, adapters: ImageAdapters) -> ImageAdapters:
    """Move ``adapters`` to the model's device, hook them into its image tower and keep them as ``model.adapters``."""
    if getattr(model, "adapters", None) is not None:
        raise ValueError("the model already has adapters; detach them first (detach_adapters(model))")
    try:
        device = next(model.backbone.visual.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    model.adapters = adapters.to(device).attach(model)
    return model.adapters


def detach_adapters(model) -> ImageAdapters | None:
    """Remove ``model.adapters`` (and its hooks); returns them."""
    adapters = getattr(model, "adapters", None)
    if adapters is not None:
        adapters.detach()
        model.adapters = None
    return adapters
