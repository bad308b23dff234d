"""openai-whisper's state dict (numpy, as ``asrperf.weights`` loads it) → the ``model.Whisper`` module.

The fused layers are built from openai-whisper's separate ones: each self-attention's
query, key and value side by side (query and its bias scaled by d_head**-0.5, in float32,
then cast once), and every decoder layer's cross-attention key and value projections
side by side. openai-whisper's key projections have no bias; their slice is zero.
Layer norms and positional embeddings stay float32, the products take ``dtype``.
"""

from __future__ import annotations

import numpy as np
import torch

from .model import Whisper


def _fused(state: dict, parts: list[tuple[str, float]]) -> tuple[np.ndarray, np.ndarray]:
    """(weight [sum of outs, in], bias) of ``parts`` = [(state name prefix, scale)], in float32."""
    weights, biases = [], []
    for name, scale in parts:
        weight = np.asarray(state[f"{name}.weight"], np.float32)
        bias = state.get(f"{name}.bias")
        bias = np.zeros(weight.shape[0], np.float32) if bias is None else np.asarray(bias, np.float32)
        weights.append(weight * np.float32(scale))
        biases.append(bias * np.float32(scale))
    return np.concatenate(weights), np.concatenate(biases)


def _block_state(state: dict, prefix: str, ours: str, d_head: int, cross: bool) -> dict[str, np.ndarray]:
    scale = d_head ** -0.5
    out = {}
    weight, bias = _fused(state, [(f"{prefix}.attn.{p}", scale if p == "query" else 1.0)
                                  for p in ("query", "key", "value")])
    out[f"{ours}.qkv.weight"], out[f"{ours}.qkv.bias"] = weight, bias
    renamed = {"attn.out": "attn_out", "attn_ln": "attn_ln", "mlp_ln": "mlp_ln", "mlp.0": "mlp1", "mlp.2": "mlp2"}
    if cross:
        renamed.update({"cross_attn.out": "cross_out", "cross_attn_ln": "cross_ln"})
        weight, bias = _fused(state, [(f"{prefix}.cross_attn.query", scale)])
        out[f"{ours}.cross_q.weight"], out[f"{ours}.cross_q.bias"] = weight, bias
    for theirs, mine in renamed.items():
        for kind in ("weight", "bias"):
            out[f"{ours}.{mine}.{kind}"] = state[f"{prefix}.{theirs}.{kind}"]
    return out


def module_state(state: dict, dims: dict[str, int]) -> dict[str, np.ndarray]:
    """openai-whisper's state dict → ``model.Whisper``'s, by name."""
    out = {f"encoder.{name}.{kind}": state[f"encoder.{name}.{kind}"]
           for name in ("conv1", "conv2", "ln_post") for kind in ("weight", "bias")}
    out["encoder.pos"] = state["encoder.positional_embedding"]
    for i in range(dims["n_audio_layer"]):
        out.update(_block_state(state, f"encoder.blocks.{i}", f"encoder.blocks.{i}",
                                dims["n_audio_state"] // dims["n_audio_head"], cross=False))
    n_layer = dims["n_text_layer"]
    for i in range(n_layer):
        out.update(_block_state(state, f"decoder.blocks.{i}", f"decoder.blocks.{i}",
                                dims["n_text_state"] // dims["n_text_head"], cross=True))
    out["decoder.cross_kv_proj.weight"], out["decoder.cross_kv_proj.bias"] = _fused(
        state, [(f"decoder.blocks.{i}.cross_attn.{p}", 1.0) for i in range(n_layer) for p in ("key", "value")])
    out["decoder.tok.weight"] = state["decoder.token_embedding.weight"]
    out["decoder.pos"] = state["decoder.positional_embedding"]
    out["decoder.ln.weight"], out["decoder.ln.bias"] = state["decoder.ln.weight"], state["decoder.ln.bias"]
    return out


def build_model(state: dict, dims: dict[str, int], dtype: torch.dtype = torch.float32,
                device: str = "cpu") -> Whisper:
    """The network with openai-whisper's weights, in inference mode (no gradients), on ``device``."""
    with torch.device("meta"):
        network = Whisper(dims)
    float32 = {name for name, module in network.named_modules() if module.__class__.__name__ == "LayerNorm"}
    tensors = {}
    for name, value in module_state(state, dims).items():
        keep_float32 = name.rsplit(".", 1)[0] in float32 or name.endswith(".pos")
        tensors[name] = torch.from_numpy(np.ascontiguousarray(value, np.float32)).to(
            device=device, dtype=torch.float32 if keep_float32 else dtype)
    network.load_state_dict(tensors, strict=True, assign=True)
    return network.eval().requires_grad_(False)
