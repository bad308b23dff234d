"""Whisper's network as pure functions of its parameters (``params.WhisperParams``).

Layers are a Python list (unrolled when traced) rather than a stacked ``scan``, so
the decoder can update its key/value cache in place inside the generation loop.
Layer norms, softmax and the logits stay in float32 whatever the compute dtype, as
openai-whisper does, so bfloat16/float16 change the matmuls and nothing else.
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from ...whisper_assets import whisper_asset
from .params import Layout, Linear, WhisperParams

SAMPLE_RATE = 16_000
N_FFT = 400
HOP_LENGTH = 160
CHUNK_SAMPLES = 30 * SAMPLE_RATE
N_FRAMES = CHUNK_SAMPLES // HOP_LENGTH  # 3000 mel frames per 30 s window


# ---------------------------------------------------------------- log-mel front end

@lru_cache(maxsize=None)
def mel_filters(n_mels: int) -> np.ndarray:
    """openai-whisper's mel filterbank (its ``assets/mel_filters.npz``), read without importing torch."""
    with np.load(whisper_asset("mel_filters.npz")) as data:
        return data[f"mel_{n_mels}"].astype(np.float32)


def log_mel(audio: jax.Array, filters: jax.Array) -> jax.Array:
    """[B, 480000] samples → [B, n_mels, 3000], openai-whisper's recipe per 30 s window.

    Centred STFT (reflect padding), periodic Hann window, power spectrum, mel
    projection, log10 clamped to 8 decades below the window's peak, scaled.
    """
    padded = jnp.pad(audio, ((0, 0), (N_FFT // 2, N_FFT // 2)), mode="reflect")
    starts = jnp.arange(N_FRAMES) * HOP_LENGTH
    frames = padded[:, starts[:, None] + jnp.arange(N_FFT)[None, :]]  # [B, 3000, 400]
    window = 0.5 - 0.5 * jnp.cos(2 * jnp.pi * jnp.arange(N_FFT) / N_FFT)
    power = jnp.abs(jnp.fft.rfft(frames * window, axis=-1)) ** 2  # [B, 3000, 201]
    mel = jnp.einsum("mf,btf->bmt", filters, power)
    log_spec = jnp.log10(jnp.maximum(mel, 1e-10))
    log_spec = jnp.maximum(log_spec, log_spec.max(axis=(1, 2), keepdims=True) - 8.0)
    return (log_spec + 4.0) / 4.0


# ---------------------------------------------------------------- building blocks

def layer_norm(x, p, eps=1e-5):
    x32 = x.astype(jnp.float32)
    mean = x32.mean(-1, keepdims=True)
    var = jnp.square(x32 - mean).mean(-1, keepdims=True)
    return ((x32 - mean) * jax.lax.rsqrt(var + eps) * p["g"] + p["b"]).astype(x.dtype)


def _multiply_reduce(rows, weight_rows):
    """rows [N, D] · weight_rows [M, D] → [N, M] in float32, as one fused loop.

    The barrier makes ``rows`` a finished buffer: otherwise XLA fuses the producer
    (a layer norm, say) into the loop and recomputes it for every one of the M outputs.
    """
    rows = jax.lax.optimization_barrier(rows.astype(jnp.float32))
    return (weight_rows[:, None, :].astype(jnp.float32) * rows[None]).sum(-1).T


# From 2 up to this many rows, a product with [out, in] weights is written as a fused
# multiply-and-reduce (see ``linear``). A single row stays a dot: XLA emits the reduce
# for one row without splitting it over cores (measured: logits 36 ms vs the dot's 7 ms).
_FEW_ROWS = 32


def _few_rows(rows) -> bool:
    return 2 <= rows.shape[0] <= _FEW_ROWS


def linear(x, p: Linear):
    """x [..., in] → [..., out]; always a 2-D product, shaped by the layer's ``layout``.

    XLA on CPU runs [B, T, D] @ [D, E] as a batched dot, measured 30-40 % slower than
    the same product on the flattened [B*T, D] rows. For the decoder's few rows per
    step, GEMM kernels are a poor fit (a 2-core EPYC ran the [8, 384] x [384, 1536] MLP
    product at ~5 GB/s of weights); with [out, in] weights, multiply-and-reduce reads
    each weight once, contiguously, for all rows (4 decoder MLPs: 3.8 → 1.9 ms a step).
    """
    rows = x.reshape(-1, x.shape[-1])
    if p.layout is Layout.IN_OUT:
        y = rows @ p.weight
    elif _few_rows(rows):
        y = _multiply_reduce(rows, p.weight).astype(x.dtype)
    else:
        y = rows @ p.weight.T
    if p.bias is not None:
        y = y + p.bias
    return y.reshape(*x.shape[:-1], y.shape[-1])


def heads(x, n_head):
    """[..., T, D] → [..., H, T, D/H]."""
    *lead, t, d = x.shape
    return jnp.moveaxis(x.reshape(*lead, t, n_head, d // n_head), -2, -3)


def merge_heads(x):
    """[B, H, T, D/H] → [B, T, D]."""
    b, h, t, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(b, t, h * d)


# Queries longer than this are processed in blocks, so the [H, Tq, Tk] score matrix of the
# 1500-frame encoder never exists whole and each block's scores stay in cache (measured on
# a 2-core EPYC: the whole matrix at once was ~35 % slower).
_QUERY_BLOCK = 100
# On CPU, each (head, block of queries) pair is one iteration with plain 2-D products:
# XLA's CPU batched dot is slower than its 2-D dot, and 300-query blocks then suit the
# caches best (2-core EPYC, tiny.en encoder, interleaved A/B: ~10 % less per window than
# batched 100-query blocks; blocks of 150, 250 and 500 queries were no better).
_CPU_QUERY_BLOCK = 300


def _softmax_attention(q, k_t, v, mask=None):
    """The attention of whole query rows; any leading axes, normalised after the value product."""
    scores = jnp.matmul(q, k_t).astype(jnp.float32)
    if mask is not None:
        scores = jnp.where(mask, scores, -jnp.inf)
    weights = jnp.exp(scores - scores.max(-1, keepdims=True))
    out = jnp.matmul(weights.astype(v.dtype), v).astype(jnp.float32)
    return (out / weights.sum(-1, keepdims=True)).astype(v.dtype)


def _blocked_batched(q, k_t, v):
    b, h, length, d_head = q.shape
    blocks = q.reshape(b, h, length // _QUERY_BLOCK, _QUERY_BLOCK, d_head).transpose(2, 0, 1, 3, 4)
    out = jax.lax.map(lambda qb: _softmax_attention(qb, k_t, v), blocks)
    return out.transpose(1, 2, 0, 3, 4).reshape(q.shape)


def _blocked_per_head(q, k_t, v):
    b, h, length, d_head = q.shape
    n_blocks = length // _CPU_QUERY_BLOCK
    q_blocks = q.reshape(b * h * n_blocks, _CPU_QUERY_BLOCK, d_head)
    keys, values = k_t.reshape(b * h, d_head, length), v.reshape(b * h, length, d_head)

    def one_block(i):
        head = i // n_blocks
        return _softmax_attention(q_blocks[i], keys[head], values[head])

    return jax.lax.map(one_block, jnp.arange(b * h * n_blocks)).reshape(q.shape)


def attention(q, k_t, v, mask=None):
    """Scaled dot-product attention for pre-scaled queries, one head per leading slice.

    q [B, H, Tq, Dh]; k_t [B, H, Dh, Tk] (keys kept transposed, so the score product is a
    plain GEMM over contiguous memory); v [B, H, Tk, Dh]; mask broadcast to [B, H, Tq, Tk].
    Long unmasked attention (the encoder's) runs in query blocks, shaped per platform.
    """
    length = q.shape[2]
    if mask is not None or length % _QUERY_BLOCK or length <= _QUERY_BLOCK:
        return _softmax_attention(q, k_t, v, mask)
    if length % _CPU_QUERY_BLOCK:
        return _blocked_batched(q, k_t, v)
    return jax.lax.platform_dependent(q, k_t, v, cpu=_blocked_per_head, default=_blocked_batched)


def self_attention_qkv(h, block, n_head):
    """Queries, transposed keys and values of one self-attention layer from one fused product."""
    qkv = linear(h, block["qkv"])  # [B, T, 3D]
    q, k, v = jnp.split(qkv, 3, axis=-1)
    q, k, v = heads(q, n_head), heads(k, n_head), heads(v, n_head)
    return q, jnp.swapaxes(k, -1, -2), v


def mlp(x, block):
    return linear(jax.nn.gelu(linear(x, block["mlp1"]), approximate=False), block["mlp2"])


def _conv1d(x, p, stride):
    y = jax.lax.conv_general_dilated(x, p["w"], (stride,), [(1, 1)], dimension_numbers=("NCH", "OIH", "NCH"))
    return y + p["b"][None, :, None]


# ---------------------------------------------------------------- encoder

def encode(params: WhisperParams, mel, n_head: int, dtype=jnp.float32):
    """[B, n_mels, 3000] log-mel → [B, 1500, d] audio features."""
    enc = params.encoder
    x = jax.nn.gelu(_conv1d(mel.astype(dtype), enc["conv1"], 1), approximate=False)
    x = jax.nn.gelu(_conv1d(x, enc["conv2"], 2), approximate=False)
    x = (x.transpose(0, 2, 1) + enc["pos"]).astype(dtype)
    for block in enc["blocks"]:
        q, k_t, v = self_attention_qkv(layer_norm(x, block["attn_ln"]), block, n_head)
        x = x + linear(merge_heads(attention(q, k_t, v)), block["attn_out"])
        x = x + mlp(layer_norm(x, block["mlp_ln"]), block)
    return layer_norm(x, enc["ln_post"])


# ---------------------------------------------------------------- decoder

def cross_kv(params: WhisperParams, audio_features, n_head: int):
    """Per-layer cross-attention (transposed keys, values): one GEMM for all layers, once per window."""
    dec = params.decoder
    n_layers = len(dec["blocks"])
    kv = linear(audio_features, dec["cross_kv"])  # [B, T, layers * 2 * D]
    kv = heads(kv, 2 * n_layers * n_head)  # [B, layers*2*H, T, Dh]
    b, _, t, d_head = kv.shape
    kv = kv.reshape(b, n_layers, 2, n_head, t, d_head)
    return [(jnp.swapaxes(kv[:, i, 0], -1, -2), kv[:, i, 1]) for i in range(n_layers)]


def empty_self_cache(params: WhisperParams, batch: int, length: int, n_head: int):
    """Self-attention cache per decoder layer: (keys [B, H, Dh, length], values [B, H, length, Dh])."""
    dec = params.decoder
    d_head = dec["tok"].shape[1] // n_head
    dtype = dec["tok"].dtype
    return [(jnp.zeros((batch, n_head, d_head, length), dtype), jnp.zeros((batch, n_head, length, d_head), dtype))
            for _ in dec["blocks"]]


def logits_from_hidden(params: WhisperParams, x):
    """[B, D] hidden states → [B, V] float32 logits against the (tied) token embedding.

    On CPU the product is written as a fused multiply-and-reduce with the vocabulary
    outermost: each embedding row is read from memory once and reused for the whole
    batch while it is in L1. For a batch of 8 on a 2-core EPYC that took 7.4 ms a
    step where XLA's dot took 12.4 ms (the skinny [8, 384] x [384, 51864] shape is a
    poor fit for its GEMM kernels). It follows the decoder's layout: where that is
    laid out for GEMMs (GPUs, one row per device), so are the logits.
    """
    dec = params.decoder
    x = layer_norm(x, dec["ln"]).astype(jnp.float32)
    if params.decoder_layout is Layout.IN_OUT or not _few_rows(x):
        return (x.astype(dec["tok"].dtype) @ dec["tok"].T).astype(jnp.float32)
    return _multiply_reduce(x, dec["tok"])


def _cross_attention(x, block, cross_layer, n_head):
    k_t, v = cross_layer
    q = heads(linear(layer_norm(x, block["cross_ln"]), block["cross_q"]), n_head)
    return x + linear(merge_heads(attention(q, k_t, v)), block["cross_out"])


def decode_full(params: WhisperParams, tokens, audio_features, n_head: int):
    """Logits for every position of ``tokens`` [B, T] at once (used to check parity)."""
    dec = params.decoder
    dtype = dec["tok"].dtype
    length = tokens.shape[1]
    x = (dec["tok"][tokens].astype(jnp.float32) + dec["pos"][:length]).astype(dtype)
    causal = jnp.tril(jnp.ones((length, length), bool))[None, None]
    for block, cross_layer in zip(dec["blocks"], cross_kv(params, audio_features, n_head)):
        q, k_t, v = self_attention_qkv(layer_norm(x, block["attn_ln"]), block, n_head)
        x = x + linear(merge_heads(attention(q, k_t, v, causal)), block["attn_out"])
        x = _cross_attention(x, block, cross_layer, n_head)
        x = x + mlp(layer_norm(x, block["mlp_ln"]), block)
    b, t, d = x.shape
    return logits_from_hidden(params, x.reshape(b * t, d)).reshape(b, t, -1)


def decode_step(params: WhisperParams, token, position, self_cache, cross, n_head: int):
    """One token per sequence at ``position``; returns logits [B, V] and the updated cache.

    ``self_cache`` (see ``empty_self_cache``) is written in place at ``position``;
    attention masks out the positions not yet written.
    """
    dec = params.decoder
    dtype = dec["tok"].dtype
    x = (dec["tok"][token].astype(jnp.float32) + dec["pos"][position])[:, None, :].astype(dtype)
    t_max = self_cache[0][1].shape[2]
    visible = (jnp.arange(t_max) <= position)[None, None, None, :]
    new_cache = []
    for block, (k_cache, v_cache), cross_layer in zip(dec["blocks"], self_cache, cross):
        q, k_t, v = self_attention_qkv(layer_norm(x, block["attn_ln"]), block, n_head)
        k_cache = jax.lax.dynamic_update_slice(k_cache, k_t, (0, 0, 0, position))
        v_cache = jax.lax.dynamic_update_slice(v_cache, v, (0, 0, position, 0))
        new_cache.append((k_cache, v_cache))
        x = x + linear(merge_heads(attention(q, k_cache, v_cache, visible)), block["attn_out"])
        x = _cross_attention(x, block, cross_layer, n_head)
        x = x + mlp(layer_norm(x, block["mlp_ln"]), block)
    return logits_from_hidden(params, x[:, 0]), new_cache
