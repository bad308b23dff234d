"""openai-whisper's parameter names → Hugging Face transformers' (and so whisper-jax's Flax) names.

Lives beside the weights, not in a backend: the transformers backend loads the checkpoint
under these names, and ``flax_export`` writes the Flax directory with them, without
importing any backend (and its framework) to do it.
"""

from __future__ import annotations

import re

_RENAMES = [
    (r"^encoder\.positional_embedding$", "model.encoder.embed_positions.weight"),
    (r"^decoder\.positional_embedding$", "model.decoder.embed_positions.weight"),
    (r"^decoder\.token_embedding\.", "model.decoder.embed_tokens."),
    (r"^encoder\.ln_post\.", "model.encoder.layer_norm."),
    (r"^decoder\.ln\.", "model.decoder.layer_norm."),
    (r"^(encoder|decoder)\.conv", r"model.\1.conv"),
    (r"^(encoder|decoder)\.blocks\.(\d+)\.", r"model.\1.layers.\2."),
    (r"\.cross_attn_ln\.", ".encoder_attn_layer_norm."),
    (r"\.cross_attn\.", ".encoder_attn."),
    (r"\.attn_ln\.", ".self_attn_layer_norm."),
    (r"\.attn\.", ".self_attn."),
    (r"\.mlp_ln\.", ".final_layer_norm."),
    (r"\.mlp\.0\.", ".fc1."),
    (r"\.mlp\.2\.", ".fc2."),
    (r"\.query\.", ".q_proj."),
    (r"\.key\.", ".k_proj."),
    (r"\.value\.", ".v_proj."),
    (r"\.out\.", ".out_proj."),
]


def hf_name(openai_name: str) -> str:
    name = openai_name
    for pattern, replacement in _RENAMES:
        name = re.sub(pattern, replacement, name)
    return name
