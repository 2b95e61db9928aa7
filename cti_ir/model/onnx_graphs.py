"""The modules the ONNX export traces: a checkpoint's image and text towers and its composer.

Two forms of each tower compute the same embedding:

- **plain** runs open_clip's own modules, as ``CIRModel`` does. Its attention is PyTorch's
  ``nn.MultiheadAttention``, which the exporter writes out as about fifty graph nodes a block (copies of the
  projections' weights, reshapes, squeezes, slices).
- **lean** (the default) computes each of open_clip's own transformer blocks from the same weights in fewer
  nodes: one product for the queries, keys and values, one reshape and one split into heads, the scale applied to
  the queries. And the last block is computed only for the token the tower is read at (the class token of the
  image tower, the end-of-text token of each text row): every other token's output of that block is thrown away by
  the pooling, and only the keys and values need all of them.

On the demo model (3 and 2 blocks of width 128, small matrices) ONNX Runtime's cost is mostly per node, and the
lean towers took 0.67 (image) and 0.73 (text, 10 tokens) of the plain towers' CPU time on one thread; on a ViT-B-32
(12 blocks of width 768, where the products are the cost) the image tower took the same time within the noise
(0.99) and the text tower 0.89. The numbers and the command are in ``docs/results/speed.md``
(``benchmarks/speed/graph_forms.py``). Towers the lean form does not know (another attention, pooling over
tokens by attention, CoCa's appended class token) are exported plain, and the export says which form it wrote.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

GRAPHS = ("lean", "plain")

#: Reads the rows of ``x`` ([batch, tokens, width]) that a tower is read at: [batch, 1, width].
RowReader = Callable[[torch.Tensor], torch.Tensor]


class ImageTower(nn.Module):
    """What ``CIRModel.encode_images`` computes, as a module the exporter can trace (the plain form)."""

    def __init__(self, clip: nn.Module):
        super().__init__()
        self.clip = clip

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.clip.encode_image(pixels), dim=-1)


class TextTower(nn.Module):
    """What ``CIRModel.encode_tokens`` computes; with ``truncate`` it also takes rows shorter than the context.

    open_clip's ``encode_text`` adds the full positional table and mask, so it only takes full-length rows; here
    both are sliced to the rows' length, which gives the same embedding when the transformer is causal and is read
    at the end-of-text token (``truncatable``).
    """

    def __init__(self, clip: nn.Module, truncate: bool):
        super().__init__()
        self.clip = clip
        self.truncate = truncate

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        clip = self.clip
        if not self.truncate:
            return F.normalize(clip.encode_text(tokens), dim=-1)
        from open_clip.transformer import text_global_pool

        length = tokens.shape[1]
        cast = clip.transformer.get_cast_dtype()
        x = clip.token_embedding(tokens).to(cast) + clip.positional_embedding[:length].to(cast)
        x = clip.transformer(x, attn_mask=clip.attn_mask[:length, :length])
        x = text_global_pool(clip.ln_final(x), tokens, "argmax")
        return F.normalize(_project(x, clip.text_projection), dim=-1)


class ComposerGraph(nn.Module):
    """What ``CIRModel.compose`` computes without manual weights, as a module the exporter can trace: the query
    and the image and text weights (per query; a per-dimension gate reports its mean, as the composer does)."""

    def __init__(self, composer: nn.Module):
        super().__init__()
        self.composer = composer

    def forward(self, image_features: torch.Tensor, text_features: torch.Tensor):
        out = self.composer(image_features, text_features)
        return out.query, out.image_weight.reshape(-1), out.text_weight.reshape(-1)


def truncatable(clip: nn.Module) -> bool:
    """True when cutting token rows after the last end-of-text token leaves the text embedding unchanged: open_clip's
    own text transformer with a causal mask, read at the end-of-text token (``text_pool_type="argmax"``)."""
    mask = getattr(clip, "attn_mask", None)
    if mask is None or getattr(clip, "text_pool_type", None) != "argmax" or mask.dim() != 2:
        return False
    if not all(hasattr(clip, name) for name in ("token_embedding", "positional_embedding", "ln_final")):
        return False
    upper = torch.ones(mask.shape, dtype=torch.bool).triu(1)
    return bool(torch.equal(torch.isinf(mask) & (mask < 0), upper) and not mask[~upper].any())


# ------------------------------------------------------------------------------------------------ the lean form
def _project(x: torch.Tensor, projection) -> torch.Tensor:
    if projection is None:
        return x
    return projection(x) if isinstance(projection, nn.Linear) else x @ projection


def _lean_blocks(transformer: nn.Module | None) -> list[nn.Module] | None:
    """The blocks of an open_clip ``Transformer`` when every one is a block the lean form computes exactly (self
    attention by ``nn.MultiheadAttention`` with one input projection and biases, no added key/value rows, no separate
    key/value norm), else None. Attention dropout needs no check: the export traces the model in eval mode, where
    ``nn.MultiheadAttention`` applies none either."""
    from open_clip.transformer import ResidualAttentionBlock

    blocks = list(getattr(transformer, "resblocks", None) or [])
    for block in blocks:
        attn = getattr(block, "attn", None)
        if type(block) is not ResidualAttentionBlock or hasattr(block, "ln_1_kv") \
                or not isinstance(attn, nn.MultiheadAttention) or attn.in_proj_weight is None \
                or attn.in_proj_bias is None or attn.out_proj.bias is None or attn.bias_k is not None \
                or attn.add_zero_attn:
            return None
    return blocks or None


def lean_block(block: nn.Module, x: torch.Tensor, mask: torch.Tensor | None = None,
               read: RowReader | None = None) -> torch.Tensor:
    """One open_clip ``ResidualAttentionBlock`` on ``x`` ([batch, tokens, width]) with ``mask`` added to the
    attention scores; with ``read``, only the rows it picks are computed ([batch, 1, width]); their keys and
    values still come from every token."""
    attn = block.attn
    batch, tokens, width = x.shape
    heads = attn.num_heads
    size = width // heads
    h = block.ln_1(x)
    if read is None:
        qkv = F.linear(h, attn.in_proj_weight, attn.in_proj_bias).reshape(batch, tokens, 3 * heads, size)
        q, k, v = qkv.transpose(1, 2).split(heads, dim=1)
        rows, row_mask = x, mask  # [tokens, tokens], added to every row's scores as it is
    else:
        kv = F.linear(h, attn.in_proj_weight[width:], attn.in_proj_bias[width:]).reshape(batch, tokens, 2 * heads, size)
        k, v = kv.transpose(1, 2).split(heads, dim=1)
        rows = read(x)
        q = F.linear(read(h), attn.in_proj_weight[:width], attn.in_proj_bias[:width])
        q = q.reshape(batch, 1, heads, size).transpose(1, 2)
        row_mask = None if mask is None else read(mask.expand(batch, tokens, tokens)).unsqueeze(1)  # [b, 1, 1, t]
    scores = (q * size ** -0.5) @ k.transpose(-1, -2)
    if row_mask is not None:
        scores = scores + row_mask
    out = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(rows.shape)
    x = rows + block.ls_1(attn.out_proj(out))
    return x + block.ls_2(block.mlp(block.ln_2(x)))


class LeanImageTower(nn.Module):
    """The image tower of open_clip's ``VisionTransformer``, read at its class token, in the lean form."""

    def __init__(self, clip: nn.Module):
        super().__init__()
        self.clip = clip

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        visual = self.clip.visual
        x = visual._embeds(pixels)  # patches, class token, positions, the pre-norm
        blocks = list(visual.transformer.resblocks)
        for block in blocks[:-1]:
            x = lean_block(block, x)
        x = lean_block(blocks[-1], x, read=lambda t: t[:, :1])
        pooled, _ = visual._pool(x)  # the class token (row 0 of the one row left), normed
        return F.normalize(_project(pooled, visual.proj), dim=-1)


class LeanTextTower(nn.Module):
    """open_clip's causal text tower read at each row's end-of-text token (the highest token id), in the lean form;
    rows may be shorter than the context (see :class:`TextTower`)."""

    def __init__(self, clip: nn.Module):
        super().__init__()
        self.clip = clip

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        clip = self.clip
        length = tokens.shape[1]
        cast = clip.transformer.get_cast_dtype()
        x = clip.token_embedding(tokens).to(cast) + clip.positional_embedding[:length].to(cast)
        mask = clip.attn_mask[:length, :length].to(cast)
        index = tokens.argmax(dim=-1).view(-1, 1, 1)

        def end_of_text(t: torch.Tensor) -> torch.Tensor:
            return t.gather(1, index.expand(t.shape[0], 1, t.shape[2]))

        blocks = list(clip.transformer.resblocks)
        for block in blocks[:-1]:
            x = lean_block(block, x, mask)
        x = lean_block(blocks[-1], x, mask, read=end_of_text)
        return F.normalize(_project(clip.ln_final(x[:, 0]), clip.text_projection), dim=-1)


def image_graph(clip: nn.Module, graph: str) -> tuple[nn.Module, str]:
    """The module to trace for ``clip``'s image tower and the form it is (``lean`` only where it is exact)."""
    visual = getattr(clip, "visual", None)
    lean = graph == "lean" and type(visual).__name__ == "VisionTransformer" \
        and getattr(visual, "attn_pool", None) is None and getattr(visual, "pool_type", None) == "tok" \
        and not getattr(visual, "output_tokens", False) and hasattr(visual, "_embeds") \
        and _lean_blocks(getattr(visual, "transformer", None)) is not None
    return (LeanImageTower(clip), "lean") if lean else (ImageTower(clip), "plain")


def text_graph(clip: nn.Module, graph: str) -> tuple[nn.Module, str]:
    """The module to trace for ``clip``'s text tower and the form it is; the lean form needs a truncatable tower
    (:func:`truncatable`), which also takes rows shorter than the context."""
    lean = graph == "lean" and truncatable(clip) and _lean_blocks(getattr(clip, "transformer", None)) is not None
    return (LeanTextTower(clip), "lean") if lean else (TextTower(clip, truncatable(clip)), "plain")
