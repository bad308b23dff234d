"""CTranslate2 ``WhisperSpec`` → openai-whisper's checkpoint layout, bit for bit.

The conversion only renames and slices: CTranslate2 fuses self-attention q/k/v into
one ``linear_0`` and cross-attention k/v into ``linear_1``; openai-whisper keeps them
apart and has no key bias (CTranslate2 stores a zero one, which is checked, not
assumed). Tensors keep their float16 values, so ``convert`` is lossless and
``conversion_plan`` lets a test prove it tensor by tensor.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..errors import WeightsIntegrityError
from .ctranslate2 import CT2Model


@dataclass(frozen=True)
class Piece:
    """openai name ← rows [start, stop) of a CTranslate2 variable (None: whole tensor)."""

    openai_name: str
    ct2_name: str
    rows: tuple[int, int] | None = None


@dataclass(frozen=True)
class Checkpoint:
    """openai-whisper's checkpoint content, as numpy arrays (torch is optional)."""

    dims: dict[str, int]
    state: dict[str, np.ndarray]
    alignment_heads: tuple[tuple[int, int], ...] = ()

    @property
    def english_only(self) -> bool:
        # openai-whisper's rule: the English-only vocabulary has 51864 entries.
        return self.dims["n_vocab"] < 51865

    def fingerprint(self) -> str:
        """sha256 over names, dtypes, shapes and bytes: the same value means the same weights."""
        digest = hashlib.sha256()
        for name in sorted(self.state):
            array = np.ascontiguousarray(self.state[name])
            digest.update(f"{name}|{array.dtype.str}|{array.shape}\n".encode())
            digest.update(array.tobytes())
        return digest.hexdigest()


def _attention(openai_prefix: str, ct2_prefix: str, width: int, fused_kv_only: bool) -> Iterator[Piece]:
    if fused_kv_only:  # cross-attention: query alone, key/value fused
        yield Piece(f"{openai_prefix}.query.weight", f"{ct2_prefix}/linear_0/weight")
        yield Piece(f"{openai_prefix}.query.bias", f"{ct2_prefix}/linear_0/bias")
        yield Piece(f"{openai_prefix}.key.weight", f"{ct2_prefix}/linear_1/weight", (0, width))
        yield Piece(f"{openai_prefix}.value.weight", f"{ct2_prefix}/linear_1/weight", (width, 2 * width))
        yield Piece(f"{openai_prefix}.value.bias", f"{ct2_prefix}/linear_1/bias", (width, 2 * width))
        out = "linear_2"
    else:
        yield Piece(f"{openai_prefix}.query.weight", f"{ct2_prefix}/linear_0/weight", (0, width))
        yield Piece(f"{openai_prefix}.query.bias", f"{ct2_prefix}/linear_0/bias", (0, width))
        yield Piece(f"{openai_prefix}.key.weight", f"{ct2_prefix}/linear_0/weight", (width, 2 * width))
        yield Piece(f"{openai_prefix}.value.weight", f"{ct2_prefix}/linear_0/weight", (2 * width, 3 * width))
        yield Piece(f"{openai_prefix}.value.bias", f"{ct2_prefix}/linear_0/bias", (2 * width, 3 * width))
        out = "linear_1"
    yield Piece(f"{openai_prefix}.out.weight", f"{ct2_prefix}/{out}/weight")
    yield Piece(f"{openai_prefix}.out.bias", f"{ct2_prefix}/{out}/bias")


def _norm(openai_prefix: str, ct2_prefix: str) -> Iterator[Piece]:
    yield Piece(f"{openai_prefix}.weight", f"{ct2_prefix}/gamma")
    yield Piece(f"{openai_prefix}.bias", f"{ct2_prefix}/beta")


def _block(side: str, index: int, width: int, cross: bool) -> Iterator[Piece]:
    o, c = f"{side}.blocks.{index}", f"{side}/layer_{index}"
    yield from _attention(f"{o}.attn", f"{c}/self_attention", width, fused_kv_only=False)
    yield from _norm(f"{o}.attn_ln", f"{c}/self_attention/layer_norm")
    if cross:
        yield from _attention(f"{o}.cross_attn", f"{c}/attention", width, fused_kv_only=True)
        yield from _norm(f"{o}.cross_attn_ln", f"{c}/attention/layer_norm")
    for linear, ct2_linear in (("mlp.0", "linear_0"), ("mlp.2", "linear_1")):
        yield Piece(f"{o}.{linear}.weight", f"{c}/ffn/{ct2_linear}/weight")
        yield Piece(f"{o}.{linear}.bias", f"{c}/ffn/{ct2_linear}/bias")
    yield from _norm(f"{o}.mlp_ln", f"{c}/ffn/layer_norm")


def _count_layers(model: CT2Model, side: str) -> int:
    count = 0
    while f"{side}/layer_{count}/ffn/linear_0/weight" in model.variables:
        count += 1
    return count


def model_dims(model: CT2Model) -> dict[str, int]:
    if model.spec != "WhisperSpec":
        raise WeightsIntegrityError(f"expected a CTranslate2 WhisperSpec model, found {model.spec!r}")
    conv1 = model.get("encoder/conv1/weight")
    audio_positions = model.get("encoder/position_encodings/encodings")
    embeddings = model.get("decoder/embeddings/weight")
    text_positions = model.get("decoder/position_encodings/encodings")
    return {
        "n_mels": int(conv1.shape[1]),
        "n_audio_ctx": int(audio_positions.shape[0]),
        "n_audio_state": int(conv1.shape[0]),
        "n_audio_head": model.scalar("encoder/num_heads"),
        "n_audio_layer": _count_layers(model, "encoder"),
        "n_vocab": int(embeddings.shape[0]),
        "n_text_ctx": int(text_positions.shape[0]),
        "n_text_state": int(embeddings.shape[1]),
        "n_text_head": model.scalar("decoder/num_heads"),
        "n_text_layer": _count_layers(model, "decoder"),
    }


def conversion_plan(dims: dict[str, int]) -> list[Piece]:
    """Every openai-whisper tensor and the CTranslate2 slice it comes from."""
    plan = [
        Piece("encoder.conv1.weight", "encoder/conv1/weight"),
        Piece("encoder.conv1.bias", "encoder/conv1/bias"),
        Piece("encoder.conv2.weight", "encoder/conv2/weight"),
        Piece("encoder.conv2.bias", "encoder/conv2/bias"),
        Piece("encoder.positional_embedding", "encoder/position_encodings/encodings"),
    ]
    for i in range(dims["n_audio_layer"]):
        plan += _block("encoder", i, dims["n_audio_state"], cross=False)
    plan += _norm("encoder.ln_post", "encoder/layer_norm")
    plan += [
        Piece("decoder.token_embedding.weight", "decoder/embeddings/weight"),
        Piece("decoder.positional_embedding", "decoder/position_encodings/encodings"),
    ]
    for i in range(dims["n_text_layer"]):
        plan += _block("decoder", i, dims["n_text_state"], cross=True)
    plan += _norm("decoder.ln", "decoder/layer_norm")
    return plan


def zero_key_biases(dims: dict[str, int]) -> list[Piece]:
    """The key-bias slices CTranslate2 stores and openai-whisper omits: they must be zero."""
    pieces = []
    for side, layers, width in (("encoder", dims["n_audio_layer"], dims["n_audio_state"]),
                                ("decoder", dims["n_text_layer"], dims["n_text_state"])):
        for i in range(layers):
            pieces.append(Piece(f"{side}.blocks.{i}.attn.key.bias",
                                f"{side}/layer_{i}/self_attention/linear_0/bias", (width, 2 * width)))
            if side == "decoder":
                pieces.append(Piece(f"{side}.blocks.{i}.cross_attn.key.bias",
                                    f"{side}/layer_{i}/attention/linear_1/bias", (0, width)))
    return pieces


def take(model: CT2Model, piece: Piece) -> np.ndarray:
    array = model.get(piece.ct2_name)
    return array if piece.rows is None else array[piece.rows[0] : piece.rows[1]]


def convert(model: CT2Model, alignment_heads: list[list[int]] | None = None) -> Checkpoint:
    dims = model_dims(model)
    for piece in zero_key_biases(dims):
        if np.any(take(model, piece) != 0):
            raise WeightsIntegrityError(
                f"{piece.ct2_name} has a non-zero key bias, which openai-whisper cannot represent: "
                "this is not a Whisper model converted from openai's weights"
            )
    state = {piece.openai_name: np.ascontiguousarray(take(model, piece)) for piece in conversion_plan(dims)}
    heads = tuple((int(layer), int(head)) for layer, head in (alignment_heads or ()))
    return Checkpoint(dims=dims, state=state, alignment_heads=heads)
