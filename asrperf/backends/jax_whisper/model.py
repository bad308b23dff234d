"""Whisper's network as pure functions of a parameter pytree.

Layers are a Python list (unrolled when traced) rather than a stacked ``scan``, so
the decoder can update its key/value cache in place inside the generation loop.
Layer norms, softmax and the logits stay in float32 whatever the compute dtype, as
openai-whisper does, so bfloat16/float16 change the matmuls and nothing else.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

SAMPLE_RATE = 16_000
N_FFT = 400
HOP_LENGTH = 160
CHUNK_SAMPLES = 30 * SAMPLE_RATE
N_FRAMES = CHUNK_SAMPLES // HOP_LENGTH  # 3000 mel frames per 30 s window


# ---------------------------------------------------------------- parameters

def _array(value, dtype):
    # Cast on the host: jnp.asarray(x, dtype) would compile a tiny conversion per tensor.
    return jnp.asarray(np.asarray(value, dtype=np.dtype(dtype)))


def _layer(weight_in_out, bias, dtype, rows_out: bool):
    """A linear layer as ``{"w": [in, out]}`` (encoder: plain x @ w GEMMs) or
    ``{"wt": [out, in]}`` (decoder: each output's weights contiguous, see ``linear``)."""
    layer = {"wt": _array(weight_in_out.T, dtype)} if rows_out else {"w": _array(weight_in_out, dtype)}
    if bias is not None:
        layer["b"] = _array(bias, dtype)
    return layer


def _linear(state, name, dtype, rows_out):
    return _layer(np.asarray(state[f"{name}.weight"], np.float32).T, state[f"{name}.bias"], dtype, rows_out)


def _norm(state, name):
    return {"g": _array(state[f"{name}.weight"], jnp.float32), "b": _array(state[f"{name}.bias"], jnp.float32)}


def _fused_numpy(state, prefix, parts, scale_first=1.0):
    """Several projections of the same input as one [in, sum(out)] matrix: one GEMM instead of several.

    openai-whisper's key projections have no bias; their slice of the fused bias is zero.
    ``scale_first`` folds attention's d_head**-0.5 into the query (exact: it is 1/8 for
    every Whisper size, a power of two).
    """
    weights, biases = [], []
    for i, part in enumerate(parts):
        scale = np.float32(scale_first if i == 0 else 1.0)
        weight = np.asarray(state[f"{prefix}.{part}.weight"], np.float32)
        bias = state.get(f"{prefix}.{part}.bias")
        weights.append(weight.T * scale)
        biases.append((np.zeros(weight.shape[0], np.float32) if bias is None else np.asarray(bias, np.float32)) * scale)
    return np.concatenate(weights, axis=1), np.concatenate(biases)


def _fused_projection(state, prefix, parts, dtype, rows_out, scale_first=1.0):
    weight, bias = _fused_numpy(state, prefix, parts, scale_first)
    return _layer(weight, bias, dtype, rows_out)


def _block_params(state, prefix, decoder, dtype, d_head, rows_out=False):
    scale = d_head ** -0.5
    block = {
        "qkv": _fused_projection(state, f"{prefix}.attn", ("query", "key", "value"), dtype, rows_out, scale),
        "attn_out": _linear(state, f"{prefix}.attn.out", dtype, rows_out),
        "attn_ln": _norm(state, f"{prefix}.attn_ln"),
        "mlp1": _linear(state, f"{prefix}.mlp.0", dtype, rows_out),
        "mlp2": _linear(state, f"{prefix}.mlp.2", dtype, rows_out),
        "mlp_ln": _norm(state, f"{prefix}.mlp_ln"),
    }
    if decoder:
        block["cross_q"] = _fused_projection(state, f"{prefix}.cross_attn", ("query",), dtype, rows_out, scale)
        block["cross_out"] = _linear(state, f"{prefix}.cross_attn.out", dtype, rows_out)
        block["cross_ln"] = _norm(state, f"{prefix}.cross_attn_ln")
    return block


def _cross_kv_params(state, n_layers, dtype):
    """Every decoder layer's cross-attention key and value projections side by side: the
    audio features are projected for all layers in one GEMM, once per window."""
    parts = [_fused_numpy(state, f"decoder.blocks.{i}.cross_attn", ("key", "value")) for i in range(n_layers)]
    return _layer(np.concatenate([w for w, _ in parts], axis=1), np.concatenate([b for _, b in parts]), dtype,
                  rows_out=False)


def params_from_state(state: dict[str, np.ndarray], dims: dict[str, int], dtype=jnp.float32,
                      decoder_rows_out: bool = True) -> dict:
    """openai-whisper state dict (numpy) → the pytree the functions below take.

    ``decoder_rows_out`` stores the decoder's weights [out, in], which switches its
    few-row products (decode steps, logits) to CPU multiply-and-reduce loops (see
    ``linear``). GPUs, and one row per device, want plain GEMMs on [in, out] weights
    (2-core EPYC, batch 1: 5 minutes of audio in 19 s against 28 s).
    """
    d_audio_head = dims["n_audio_state"] // dims["n_audio_head"]
    d_text_head = dims["n_text_state"] // dims["n_text_head"]
    return {
        "encoder": {
            "conv1": {"w": _array(state["encoder.conv1.weight"], dtype), "b": _array(state["encoder.conv1.bias"], dtype)},
            "conv2": {"w": _array(state["encoder.conv2.weight"], dtype), "b": _array(state["encoder.conv2.bias"], dtype)},
            "pos": _array(state["encoder.positional_embedding"], jnp.float32),
            "blocks": [_block_params(state, f"encoder.blocks.{i}", False, dtype, d_audio_head)
                       for i in range(dims["n_audio_layer"])],
            "ln_post": _norm(state, "encoder.ln_post"),
        },
        "decoder": {
            "tok": _array(state["decoder.token_embedding.weight"], dtype),
            "pos": _array(state["decoder.positional_embedding"], jnp.float32),
            "blocks": [_block_params(state, f"decoder.blocks.{i}", True, dtype, d_text_head, decoder_rows_out)
                       for i in range(dims["n_text_layer"])],
            "cross_kv": _cross_kv_params(state, dims["n_text_layer"], dtype),
            "ln": _norm(state, "decoder.ln"),
        },
    }


# ---------------------------------------------------------------- log-mel front end

@lru_cache(maxsize=None)
def mel_filters(n_mels: int) -> np.ndarray:
    """openai-whisper's mel filterbank (its ``assets/mel_filters.npz``), read without importing torch."""
    spec = importlib.util.find_spec("whisper")
    if spec is None or not spec.submodule_search_locations:
        from ...errors import BackendUnavailableError

        raise BackendUnavailableError("the jax backend uses openai-whisper's mel filters and tokenizer: "
                                      "pip install openai-whisper")
    path = Path(list(spec.submodule_search_locations)[0]) / "assets" / "mel_filters.npz"
    with np.load(path) as data:
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


def _use_multiply_reduce(rows, rows_out: bool) -> bool:
    return rows_out and 2 <= rows.shape[0] <= _FEW_ROWS


def _decoder_rows_out(dec) -> bool:
    """Whether ``params_from_state`` laid the decoder out for multiply-and-reduce products."""
    return "wt" in dec["blocks"][0]["mlp1"]


def linear(x, p):
    """x [..., in] → [..., out] for a layer from ``_layer``; always a 2-D product.

    XLA on CPU runs [B, T, D] @ [D, E] as a batched dot, measured 30-40 % slower than
    the same product on the flattened [B*T, D] rows. For the decoder's few rows per
    step, GEMM kernels are a poor fit (a 2-core EPYC ran the [8, 384] x [384, 1536] MLP
    product at ~5 GB/s of weights); with [out, in] weights, multiply-and-reduce reads
    each weight once, contiguously, for all rows (4 decoder MLPs: 3.8 → 1.9 ms a step).
    """
    rows = x.reshape(-1, x.shape[-1])
    if "w" in p:
        y = rows @ p["w"]
    elif _use_multiply_reduce(rows, rows_out=True):
        y = _multiply_reduce(rows, p["wt"]).astype(x.dtype)
    else:
        y = rows @ p["wt"].T
    if "b" in p:
        y = y + p["b"]
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

def encode(params, mel, n_head: int, dtype=jnp.float32):
    """[B, n_mels, 3000] log-mel → [B, 1500, d] audio features."""
    enc = params["encoder"]
    x = jax.nn.gelu(_conv1d(mel.astype(dtype), enc["conv1"], 1), approximate=False)
    x = jax.nn.gelu(_conv1d(x, enc["conv2"], 2), approximate=False)
    x = (x.transpose(0, 2, 1) + enc["pos"]).astype(dtype)
    for block in enc["blocks"]:
        q, k_t, v = self_attention_qkv(layer_norm(x, block["attn_ln"]), block, n_head)
        x = x + linear(merge_heads(attention(q, k_t, v)), block["attn_out"])
        x = x + mlp(layer_norm(x, block["mlp_ln"]), block)
    return layer_norm(x, enc["ln_post"])


# ---------------------------------------------------------------- decoder

def cross_kv(params, audio_features, n_head: int):
    """Per-layer cross-attention (transposed keys, values): one GEMM for all layers, once per window."""
    dec = params["decoder"]
    n_layers = len(dec["blocks"])
    kv = linear(audio_features, dec["cross_kv"])  # [B, T, layers * 2 * D]
    kv = heads(kv, 2 * n_layers * n_head)  # [B, layers*2*H, T, Dh]
    b, _, t, d_head = kv.shape
    kv = kv.reshape(b, n_layers, 2, n_head, t, d_head)
    return [(jnp.swapaxes(kv[:, i, 0], -1, -2), kv[:, i, 1]) for i in range(n_layers)]


def empty_self_cache(params, batch: int, length: int, n_head: int):
    """Self-attention cache per decoder layer: (keys [B, H, Dh, length], values [B, H, length, Dh])."""
    dec = params["decoder"]
    d_head = dec["tok"].shape[1] // n_head
    dtype = dec["tok"].dtype
    return [(jnp.zeros((batch, n_head, d_head, length), dtype), jnp.zeros((batch, n_head, length, d_head), dtype))
            for _ in dec["blocks"]]


def logits_from_hidden(params, x):
    """[B, D] hidden states → [B, V] float32 logits against the (tied) token embedding.

    On CPU the product is written as a fused multiply-and-reduce with the vocabulary
    outermost: each embedding row is read from memory once and reused for the whole
    batch while it is in L1. For a batch of 8 on a 2-core EPYC that took 7.4 ms a
    step where XLA's dot took 12.4 ms (the skinny [8, 384] x [384, 51864] shape is a
    poor fit for its GEMM kernels). It follows the decoder's layout: where that is
    laid out for GEMMs (GPUs, one row per device), so are the logits.
    """
    dec = params["decoder"]
    x = layer_norm(x, dec["ln"]).astype(jnp.float32)
    if not _use_multiply_reduce(x, _decoder_rows_out(dec)):
        return (x.astype(dec["tok"].dtype) @ dec["tok"].T).astype(jnp.float32)
    return _multiply_reduce(x, dec["tok"])


def _cross_attention(x, block, cross_layer, n_head):
    k_t, v = cross_layer
    q = heads(linear(layer_norm(x, block["cross_ln"]), block["cross_q"]), n_head)
    return x + linear(merge_heads(attention(q, k_t, v)), block["cross_out"])


def decode_full(params, tokens, audio_features, n_head: int):
    """Logits for every position of ``tokens`` [B, T] at once (used to check parity)."""
    dec = params["decoder"]
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


def decode_step(params, token, position, self_cache, cross, n_head: int):
    """One token per sequence at ``position``; returns logits [B, V] and the updated cache.

    ``self_cache`` (see ``empty_self_cache``) is written in place at ``position``;
    attention masks out the positions not yet written.
    """
    dec = params["decoder"]
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
