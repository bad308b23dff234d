"""Whisper's parameters for the JAX network, and how their weights are laid out.

An openai-whisper state dict (numpy, any float dtype) becomes a ``WhisperParams`` tree:
plain dicts of arrays, with every linear layer a ``Linear`` whose ``layout`` says how
its weight is stored. Layouts are static pytree data: they are fixed when the
parameters are built and compiled into the program, never read from array shapes or
dict keys. Everything is cast and rearranged on the host and placed on the device in
one ``device_put``: ``jnp.asarray`` per tensor would dispatch (and on first use
compile) a conversion for each of the model's ~130 tensors, and arrays laid out as the
device wants them are adopted without a copy.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from .multihost import put_replicated


class Layout(enum.Enum):
    """How a linear layer's weight is stored, which decides how its product is computed."""

    # [in, out]: ``rows @ weight``, a GEMM. The encoder's layers, where each product has
    # 1500 rows per window; the decoder's on GPUs and with one row per device.
    IN_OUT = "in_out"
    # [out, in]: each output's weights contiguous. Products over a few rows (the decoder's
    # steps with several rows per CPU device) become multiply-and-reduce loops that read
    # each weight once for all rows (see ``model.linear``).
    OUT_IN = "out_in"


@dataclass(frozen=True)
class Linear:
    """One linear layer: ``weight`` in ``layout``, and its bias (None: no bias)."""

    weight: jax.Array
    bias: jax.Array | None
    layout: Layout = field(metadata={"static": True})


@dataclass(frozen=True)
class WhisperParams:
    """The network's parameters: ``encoder`` and ``decoder`` trees (see ``params_from_state``).

    ``decoder_layout`` is the layout of the decoder's blocks; its logits, a product with
    the [vocabulary, width] token embedding, follow it (multiply-and-reduce for a few rows
    when it is ``OUT_IN``, a plain dot when it is ``IN_OUT``).
    """

    encoder: dict
    decoder: dict
    decoder_layout: Layout = field(metadata={"static": True})


jax.tree_util.register_dataclass(Linear)
jax.tree_util.register_dataclass(WhisperParams)


def decoder_layout_for(platform: str, rows_per_device: int) -> Layout:
    """The decoder layout that runs fastest for this platform and batch share.

    Multiply-and-reduce products pay off on CPU with several rows per device. GPUs, and
    one row per device, want plain GEMMs on [in, out] weights (2-core EPYC, batch 1:
    5 minutes of audio in 19 s against 28 s with the [out, in] layout).
    """
    return Layout.OUT_IN if platform == "cpu" and rows_per_device >= 2 else Layout.IN_OUT


# XLA's CPU client adopts a host array as the device buffer, without copying it, when the
# array is C-contiguous and aligned to this many bytes (numpy itself aligns to 16).
_CPU_ALIGNMENT = 64


def _aligned_empty(shape: tuple[int, ...], dtype) -> np.ndarray:
    dtype = np.dtype(dtype)
    size = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(size + _CPU_ALIGNMENT, np.uint8)
    offset = -raw.ctypes.data % _CPU_ALIGNMENT
    return raw[offset : offset + size].view(dtype).reshape(shape)


def _host(value, dtype) -> np.ndarray:
    """``value`` cast to ``dtype`` in one copy, into an array ``device_put`` adopts as it is."""
    out = _aligned_empty(np.shape(value), dtype)
    np.copyto(out, value, casting="unsafe")
    return out


def _projections(state, parts: list[tuple[str, float]], dtype, layout: Layout) -> Linear:
    """Projections of the same input, side by side as one layer: one GEMM instead of several.

    ``parts`` are (state name prefix, scale) pairs. openai-whisper's key projections have
    no bias; their slice of the bias is zero. A scale folds attention's d_head**-0.5 into
    the query (exact: it is 1/8 for every Whisper size, a power of two). Each part is cast
    (and for ``IN_OUT`` transposed) straight into its slice of the layer: one pass over
    the weights, where concatenating and casting would take three.
    """
    sources = [state[f"{name}.weight"] for name, _ in parts]  # openai-whisper's [out, in]
    bounds = np.cumsum([0] + [w.shape[0] for w in sources])
    n_in, n_out = sources[0].shape[1], int(bounds[-1])
    weight = _aligned_empty((n_out, n_in) if layout is Layout.OUT_IN else (n_in, n_out), dtype)
    bias = _aligned_empty((n_out,), dtype)
    for (name, scale), source, start, stop in zip(parts, sources, bounds[:-1], bounds[1:]):
        source_bias = state.get(f"{name}.bias")
        source_bias = np.zeros(source.shape[0], np.float32) if source_bias is None else source_bias
        if scale != 1.0:  # scaled in float32 (exactly), then rounded once by the cast to ``dtype``
            source = np.asarray(source, np.float32) * np.float32(scale)
            source_bias = np.asarray(source_bias, np.float32) * np.float32(scale)
        np.copyto(weight[start:stop] if layout is Layout.OUT_IN else weight[:, start:stop],
                  source if layout is Layout.OUT_IN else source.T, casting="unsafe")
        np.copyto(bias[start:stop], source_bias, casting="unsafe")
    return Linear(weight, bias, layout)


def _linear(state, name, dtype, layout: Layout) -> Linear:
    return _projections(state, [(name, 1.0)], dtype, layout)


def _norm(state, name) -> dict:
    return {"g": _host(state[f"{name}.weight"], np.float32), "b": _host(state[f"{name}.bias"], np.float32)}


def _block_params(state, prefix, decoder, dtype, d_head, layout: Layout) -> dict:
    scale = d_head ** -0.5
    block = {
        "qkv": _projections(state, [(f"{prefix}.attn.{part}", scale if part == "query" else 1.0)
                                    for part in ("query", "key", "value")], dtype, layout),
        "attn_out": _linear(state, f"{prefix}.attn.out", dtype, layout),
        "attn_ln": _norm(state, f"{prefix}.attn_ln"),
        "mlp1": _linear(state, f"{prefix}.mlp.0", dtype, layout),
        "mlp2": _linear(state, f"{prefix}.mlp.2", dtype, layout),
        "mlp_ln": _norm(state, f"{prefix}.mlp_ln"),
    }
    if decoder:
        block["cross_q"] = _projections(state, [(f"{prefix}.cross_attn.query", scale)], dtype, layout)
        block["cross_out"] = _linear(state, f"{prefix}.cross_attn.out", dtype, layout)
        block["cross_ln"] = _norm(state, f"{prefix}.cross_attn_ln")
    return block


def _cross_kv_params(state, n_layers, dtype) -> Linear:
    """Every decoder layer's cross-attention key and value projections side by side: the
    audio features (1500 rows a window) are projected for all layers in one GEMM, once per window."""
    parts = [(f"decoder.blocks.{i}.cross_attn.{part}", 1.0) for i in range(n_layers) for part in ("key", "value")]
    return _projections(state, parts, dtype, Layout.IN_OUT)


def params_from_state(state: dict[str, np.ndarray], dims: dict[str, int], dtype=jnp.float32, *,
                      decoder_layout: Layout, device=None) -> WhisperParams:
    """openai-whisper state dict (numpy) → the ``WhisperParams`` the network functions take.

    Matmul weights are cast to ``dtype``; layer norms and positional embeddings stay
    float32, as openai-whisper keeps them. ``device`` is a device or sharding for the
    single placement (None: JAX's default device); a sharding may span several processes.
    """
    d_audio_head = dims["n_audio_state"] // dims["n_audio_head"]
    host = WhisperParams(
        encoder={
            "conv1": {"w": _host(state["encoder.conv1.weight"], dtype), "b": _host(state["encoder.conv1.bias"], dtype)},
            "conv2": {"w": _host(state["encoder.conv2.weight"], dtype), "b": _host(state["encoder.conv2.bias"], dtype)},
            "pos": _host(state["encoder.positional_embedding"], np.float32),
            "blocks": [_block_params(state, f"encoder.blocks.{i}", False, dtype, d_audio_head, Layout.IN_OUT)
                       for i in range(dims["n_audio_layer"])],
            "ln_post": _norm(state, "encoder.ln_post"),
        },
        decoder=_decoder_params(state, dims, dtype, decoder_layout),
        decoder_layout=decoder_layout,
    )
    return put_replicated(host, device) if device is not None else jax.device_put(host)


def _decoder_params(state, dims, dtype, layout: Layout) -> dict:
    d_text_head = dims["n_text_state"] // dims["n_text_head"]
    return {
        "tok": _host(state["decoder.token_embedding.weight"], dtype),
        "pos": _host(state["decoder.positional_embedding"], np.float32),
        "blocks": [_block_params(state, f"decoder.blocks.{i}", True, dtype, d_text_head, layout)
                   for i in range(dims["n_text_layer"])],
        "cross_kv": _cross_kv_params(state, dims["n_text_layer"], dtype),
        "ln": _norm(state, "decoder.ln"),
    }


def with_decoder_layout(params: WhisperParams, state: dict[str, np.ndarray], dims: dict[str, int], dtype,
                        layout: Layout, device=None) -> WhisperParams:
    """``params`` with its decoder rebuilt from ``state`` in ``layout``; the encoder's arrays are shared.

    For a batch bucket whose rows per device want the other layout (``decoder_layout_for``):
    only the decoder, the small part of the network, is held twice.
    """
    if layout is params.decoder_layout:
        return params
    decoder = _decoder_params(state, dims, dtype, layout)
    decoder = put_replicated(decoder, device) if device is not None else jax.device_put(decoder)
    return WhisperParams(encoder=params.encoder, decoder=decoder, decoder_layout=layout)
