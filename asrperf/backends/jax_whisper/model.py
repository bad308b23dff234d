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


def _linear(state, name, bias=True, dtype=jnp.float32):
    # Stored transposed ([in, out]) so the hot path is a plain x @ w.
    layer = {"w": _array(state[f"{name}.weight"].T, dtype)}
    if bias:
        layer["b"] = _array(state[f"{name}.bias"], dtype)
    return layer


def _norm(state, name):
    return {"g": _array(state[f"{name}.weight"], jnp.float32), "b": _array(state[f"{name}.bias"], jnp.float32)}


def _attention_params(state, prefix, dtype):
    return {
        "q": _linear(state, f"{prefix}.query", dtype=dtype),
        "k": _linear(state, f"{prefix}.key", bias=False, dtype=dtype),
        "v": _linear(state, f"{prefix}.value", dtype=dtype),
        "o": _linear(state, f"{prefix}.out", dtype=dtype),
    }


def _block_params(state, prefix, cross, dtype):
    block = {
        "attn": _attention_params(state, f"{prefix}.attn", dtype),
        "attn_ln": _norm(state, f"{prefix}.attn_ln"),
        "mlp1": _linear(state, f"{prefix}.mlp.0", dtype=dtype),
        "mlp2": _linear(state, f"{prefix}.mlp.2", dtype=dtype),
        "mlp_ln": _norm(state, f"{prefix}.mlp_ln"),
    }
    if cross:
        block["cross"] = _attention_params(state, f"{prefix}.cross_attn", dtype)
        block["cross_ln"] = _norm(state, f"{prefix}.cross_attn_ln")
    return block


def params_from_state(state: dict[str, np.ndarray], dims: dict[str, int], dtype=jnp.float32) -> dict:
    """openai-whisper state dict (numpy) → the pytree the functions below take."""
    return {
        "encoder": {
            "conv1": {"w": _array(state["encoder.conv1.weight"], dtype), "b": _array(state["encoder.conv1.bias"], dtype)},
            "conv2": {"w": _array(state["encoder.conv2.weight"], dtype), "b": _array(state["encoder.conv2.bias"], dtype)},
            "pos": _array(state["encoder.positional_embedding"], jnp.float32),
            "blocks": [_block_params(state, f"encoder.blocks.{i}", False, dtype) for i in range(dims["n_audio_layer"])],
            "ln_post": _norm(state, "encoder.ln_post"),
        },
        "decoder": {
            "tok": _array(state["decoder.token_embedding.weight"], dtype),
            "pos": _array(state["decoder.positional_embedding"], jnp.float32),
            "blocks": [_block_params(state, f"decoder.blocks.{i}", True, dtype) for i in range(dims["n_text_layer"])],
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


def linear(x, p):
    y = x @ p["w"]
    return y + p["b"] if "b" in p else y


def split_heads(x, n_head):
    """[B, T, D] → [B, H, T, D/H], the layout keys and values are kept in."""
    b, t, d = x.shape
    return x.reshape(b, t, n_head, d // n_head).transpose(0, 2, 1, 3)


# Queries longer than this are processed in blocks, so the [H, Tq, Tk] score matrix
# of the 1500-frame encoder never exists whole: XLA on CPU then reuses one small
# buffer per block instead of allocating (and page-faulting) ~50 MB per layer.
_QUERY_BLOCK = 300


def attend(q, k, v, n_head, mask=None):
    """Scaled dot-product attention: q [B, Tq, D]; k, v [B, H, Tk, D/H]; mask broadcast to [B, H, Tq, Tk].

    openai-whisper scales q and k by d**-0.25 each; scaling q alone by d**-0.5 is the
    same product without touching the (large, reused) keys.
    """
    d_head = q.shape[-1] // n_head
    qh = split_heads(q * jnp.asarray(d_head ** -0.5, q.dtype), n_head)

    def block(qb, mask_b):
        scores = jnp.einsum("bhqd,bhkd->bhqk", qb, k).astype(jnp.float32)
        if mask_b is not None:
            scores = jnp.where(mask_b, scores, -jnp.inf)
        weights = jax.nn.softmax(scores, axis=-1).astype(v.dtype)
        return jnp.einsum("bhqk,bhkd->bhqd", weights, v)

    length = qh.shape[2]
    if mask is None and length > _QUERY_BLOCK and length % _QUERY_BLOCK == 0:
        blocks = qh.reshape(*qh.shape[:2], length // _QUERY_BLOCK, _QUERY_BLOCK, d_head).transpose(2, 0, 1, 3, 4)
        out = jax.lax.map(lambda qb: block(qb, None), blocks).transpose(1, 2, 0, 3, 4)
        out = out.reshape(qh.shape)
    else:
        out = block(qh, mask)
    b, h, t, d = out.shape
    return out.transpose(0, 2, 1, 3).reshape(b, t, h * d)


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
        h = layer_norm(x, block["attn_ln"])
        a = block["attn"]
        k, v = split_heads(linear(h, a["k"]), n_head), split_heads(linear(h, a["v"]), n_head)
        x = x + linear(attend(linear(h, a["q"]), k, v, n_head), a["o"])
        x = x + mlp(layer_norm(x, block["mlp_ln"]), block)
    return layer_norm(x, enc["ln_post"])


# ---------------------------------------------------------------- decoder

def cross_kv(params, audio_features, n_head: int):
    """Per-layer cross-attention keys and values in head layout: computed once per window."""
    return [
        (split_heads(linear(audio_features, b["cross"]["k"]), n_head),
         split_heads(linear(audio_features, b["cross"]["v"]), n_head))
        for b in params["decoder"]["blocks"]
    ]


def logits_from_hidden(params, x):
    dec = params["decoder"]
    x = layer_norm(x, dec["ln"])
    return (x @ dec["tok"].T).astype(jnp.float32)


def decode_full(params, tokens, audio_features, n_head: int):
    """Logits for every position of ``tokens`` [B, T] at once (used to check parity)."""
    dec = params["decoder"]
    dtype = dec["tok"].dtype
    length = tokens.shape[1]
    x = (dec["tok"][tokens].astype(jnp.float32) + dec["pos"][:length]).astype(dtype)
    causal = jnp.tril(jnp.ones((length, length), bool))[None, None]
    for block, (ck, cv) in zip(dec["blocks"], cross_kv(params, audio_features, n_head)):
        h = layer_norm(x, block["attn_ln"])
        a = block["attn"]
        k, v = split_heads(linear(h, a["k"]), n_head), split_heads(linear(h, a["v"]), n_head)
        x = x + linear(attend(linear(h, a["q"]), k, v, n_head, causal), a["o"])
        h = layer_norm(x, block["cross_ln"])
        x = x + linear(attend(linear(h, block["cross"]["q"]), ck, cv, n_head), block["cross"]["o"])
        x = x + mlp(layer_norm(x, block["mlp_ln"]), block)
    return logits_from_hidden(params, x)


def decode_step(params, token, position, self_cache, cross, n_head: int):
    """One token per sequence at ``position``; returns logits [B, V] and the updated cache.

    ``self_cache`` is a list of (k, v) arrays [B, H, T_max, d/H] written in place at
    ``position``; attention masks out the positions not yet written.
    """
    dec = params["decoder"]
    dtype = dec["tok"].dtype
    x = (dec["tok"][token].astype(jnp.float32) + dec["pos"][position])[:, None, :].astype(dtype)
    t_max = self_cache[0][0].shape[2]
    visible = (jnp.arange(t_max) <= position)[None, None, None, :]
    new_cache = []
    for block, (k_cache, v_cache), (ck, cv) in zip(dec["blocks"], self_cache, cross):
        h = layer_norm(x, block["attn_ln"])
        a = block["attn"]
        k_cache = jax.lax.dynamic_update_slice(k_cache, split_heads(linear(h, a["k"]), n_head), (0, 0, position, 0))
        v_cache = jax.lax.dynamic_update_slice(v_cache, split_heads(linear(h, a["v"]), n_head), (0, 0, position, 0))
        new_cache.append((k_cache, v_cache))
        x = x + linear(attend(linear(h, a["q"]), k_cache, v_cache, n_head, visible), a["o"])
        h = layer_norm(x, block["cross_ln"])
        x = x + linear(attend(linear(h, block["cross"]["q"]), ck, cv, n_head), block["cross"]["o"])
        x = x + mlp(layer_norm(x, block["mlp_ln"]), block)
    return logits_from_hidden(params, x[:, 0]), new_cache
