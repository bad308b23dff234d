"""Whisper's network as a PyTorch module, shaped for a static-shape decode loop.

The same engineering as the jax port (``jax_whisper.model``): the query, key and value
projections of each self-attention are one fused product with attention's d_head**-0.5
folded into the query (exact: 1/8 for every Whisper size); the decoder's cross-attention
keys and values of every layer come from one product, once per window (``cross_kv``);
and the one-token ``step`` writes a preallocated cache, one key and one value tensor per
layer, at a position given as a 0-d tensor, so one compiled graph serves every step.
Layer norms, softmax and logits run in float32 whatever the compute dtype, as in
openai-whisper, so float16/bfloat16 change the products and nothing else.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

class LayerNorm(nn.LayerNorm):
    """In float32 whatever the input's dtype, as openai-whisper's."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float()).type(x.dtype)


def _heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    """[B, T, D] → [B, H, T, D/H]."""
    b, t, d = x.shape
    return x.view(b, t, n_head, d // n_head).transpose(1, 2)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    """[B, H, T, D/H] → [B, T, D]."""
    b, h, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, h * d)


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """Pre-scaled queries against keys [B, H, Tk, Dh]: plain matmuls, softmax in float32.

    For the decoder's one-row query, issue 19's probe (2-core EPYC, tiny.en, batch 8, whole
    compiled step) took 31.8 ms with these and a cache per layer, 79 ms with SDPA and a
    stacked cache. Isolated here (one cross-attention layer, 1 thread, machine shared):
    2.1-4.2 ms eager, 3.1-6.3 ms compiled, keys as stored; pre-transposed keys were no faster.
    """
    scores = (q @ k.transpose(-1, -2)).float()
    if bias is not None:
        scores = scores + bias
    return (scores.softmax(-1).type(v.dtype)) @ v


class Block(nn.Module):
    """One residual block: self-attention, (decoder only) cross-attention, MLP."""

    def __init__(self, width: int, n_head: int, cross: bool):
        super().__init__()
        self.n_head = n_head
        self.attn_ln = LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.attn_out = nn.Linear(width, width)
        if cross:
            self.cross_ln = LayerNorm(width)
            self.cross_q = nn.Linear(width, width)
            self.cross_out = nn.Linear(width, width)
        self.mlp_ln = LayerNorm(width)
        self.mlp1 = nn.Linear(width, 4 * width)
        self.mlp2 = nn.Linear(4 * width, width)

    def qkv_heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        q, k, v = self.qkv(self.attn_ln(x)).chunk(3, dim=-1)
        return _heads(q, self.n_head), _heads(k, self.n_head), _heads(v, self.n_head)

    def cross_attention(self, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        q = _heads(self.cross_q(self.cross_ln(x)), self.n_head)
        return x + self.cross_out(_merge_heads(_attend(q, k, v)))

    def mlp(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mlp2(F.gelu(self.mlp1(self.mlp_ln(x))))


class Encoder(nn.Module):
    """[B, n_mels, 3000] log-mel → [B, 1500, width] audio features."""

    def __init__(self, n_mels: int, n_ctx: int, width: int, n_head: int, n_layer: int):
        super().__init__()
        self.conv1 = nn.Conv1d(n_mels, width, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(width, width, kernel_size=3, stride=2, padding=1)
        self.register_buffer("pos", torch.zeros(n_ctx, width))
        self.blocks = nn.ModuleList(Block(width, n_head, cross=False) for _ in range(n_layer))
        self.ln_post = LayerNorm(width)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        dtype = self.conv1.weight.dtype
        x = F.gelu(self.conv1(mel.type(dtype)))
        x = F.gelu(self.conv2(x)).transpose(1, 2)
        x = (x.float() + self.pos).type(dtype)
        for block in self.blocks:
            q, k, v = block.qkv_heads(x)
            # SDPA, as openai-whisper's encoder (a blocked flash-attention kernel on CPU, so the
            # [H, 1500, 1500] scores never exist whole); against plain matmuls not yet measured here.
            out = F.scaled_dot_product_attention(q, k, v, scale=1.0)
            x = x + block.attn_out(_merge_heads(out))
            x = block.mlp(x)
        return self.ln_post(x)


class Decoder(nn.Module):
    """Token embedding, blocks and the tied logits; a cached one-token ``step``."""

    def __init__(self, n_vocab: int, n_ctx: int, width: int, n_head: int, n_layer: int):
        super().__init__()
        self.n_head, self.n_layer, self.width = n_head, n_layer, width
        self.tok = nn.Embedding(n_vocab, width)
        self.register_buffer("pos", torch.zeros(n_ctx, width))
        self.blocks = nn.ModuleList(Block(width, n_head, cross=True) for _ in range(n_layer))
        self.cross_kv_proj = nn.Linear(width, 2 * n_layer * width)
        self.ln = LayerNorm(width)

    def cross_kv(self, features: torch.Tensor) -> list[torch.Tensor]:
        """Per layer, cross-attention keys then values [B, H, 1500, Dh]: one GEMM for all layers, once per window."""
        b, t, _ = features.shape
        kv = self.cross_kv_proj(features).view(b, t, 2 * self.n_layer * self.n_head, -1).transpose(1, 2)
        # Contiguous per layer: every step reads them, and a strided view would be read strided.
        return [part.contiguous() for part in kv.chunk(2 * self.n_layer, dim=1)]

    def empty_cache(self, batch: int, length: int) -> list[torch.Tensor]:
        """Per layer, a self-attention key then value cache [B, H, length, Dh], zeros.

        One tensor each, not one stacked tensor: Inductor does not write into a view of a graph
        input in place, and with a stacked cache it copied the whole cache at every step.
        """
        weight = self.tok.weight
        shape = (batch, self.n_head, length, self.width // self.n_head)
        return [torch.zeros(shape, dtype=weight.dtype, device=weight.device) for _ in range(2 * self.n_layer)]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        x = self.ln(x)
        return (x @ self.tok.weight.type(x.dtype).t()).float()

    def step(self, token: torch.Tensor, position: torch.Tensor, cache: list[torch.Tensor],
             cross: list[torch.Tensor]) -> torch.Tensor:
        """token [B] at ``position`` (0-d tensor) → logits [B, V] float32; writes ``cache`` at ``position``.

        Positions after ``position`` hold zeros or stale keys from an earlier window: they are masked out.
        """
        dtype = self.tok.weight.dtype
        where = position.view(1)
        x = (self.tok(token).float() + self.pos.index_select(0, where)).type(dtype)[:, None]  # [B, 1, D]
        length = cache[0].shape[2]
        hidden = torch.arange(length, device=token.device) > position
        bias = torch.zeros(length, device=token.device).masked_fill(hidden, float("-inf"))
        for i, block in enumerate(self.blocks):
            k_cache, v_cache = cache[2 * i], cache[2 * i + 1]
            q, k, v = block.qkv_heads(x)
            k_cache.index_copy_(2, where, k)
            v_cache.index_copy_(2, where, v)
            x = x + block.attn_out(_merge_heads(_attend(q, k_cache, v_cache, bias)))
            x = block.cross_attention(x, cross[2 * i], cross[2 * i + 1])
            x = block.mlp(x)
        return self.logits(x[:, 0])

    def forward_full(self, tokens: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """Logits [B, T, V] for every position of ``tokens`` at once, uncached (parity checks)."""
        length = tokens.shape[1]
        dtype = self.tok.weight.dtype
        x = (self.tok(tokens).float() + self.pos[:length]).type(dtype)
        bias = torch.full((length, length), float("-inf"), device=tokens.device).triu(1)
        cross = self.cross_kv(features)
        for i, block in enumerate(self.blocks):
            q, k, v = block.qkv_heads(x)
            x = x + block.attn_out(_merge_heads(_attend(q, k, v, bias)))
            x = block.cross_attention(x, cross[2 * i], cross[2 * i + 1])
            x = block.mlp(x)
        return self.logits(x)


class Whisper(nn.Module):
    def __init__(self, dims: dict[str, int]):
        super().__init__()
        self.dims = dims
        self.encoder = Encoder(dims["n_mels"], dims["n_audio_ctx"], dims["n_audio_state"], dims["n_audio_head"],
                               dims["n_audio_layer"])
        self.decoder = Decoder(dims["n_vocab"], dims["n_text_ctx"], dims["n_text_state"], dims["n_text_head"],
                               dims["n_text_layer"])
