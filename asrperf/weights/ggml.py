"""whisper.cpp's ggml model file, written with numpy from asrperf's converted checkpoint.

whisper.cpp reads one little-endian binary file. Its loader (``whisper_model_load`` in
whisper.cpp) is the specification, and upstream's ``convert-pt-to-ggml.py`` writes the
same layout from an openai-whisper checkpoint:

1. int32 magic ``0x67676d6c`` ("ggml"), then eleven int32 hyper-parameters: the ten
   ``ModelDimensions`` fields in whisper.cpp's order and the storage type (``ftype``:
   0 float32 everywhere, 1 float16 matrices);
2. the mel filterbank: int32 n_mels, int32 n_fft, then float32 [n_mels, n_fft]
   (openai-whisper's ``assets/mel_filters.npz``);
3. the vocabulary: int32 count, then each token as int32 length + its bytes, in rank
   order (openai-whisper's ``assets/*.tiktoken``); whisper.cpp numbers the special
   tokens itself from ``n_vocab``;
4. every tensor, under openai-whisper's state-dict name: int32 n_dims, int32 name
   length, int32 type (0 float32, 1 float16), its sizes innermost first (ggml's ``ne``,
   numpy's shape reversed), the name, then the data.

Which tensors are float16 is not the writer's choice: whisper.cpp allocates each tensor
with a fixed type (matrices and conv kernels in the file's ftype; vectors, conv biases
and positional embeddings in float32) and rejects a tensor of another element size.
Conv biases are [n_state, 1], the shape whisper.cpp adds to the conv output.

The file is cached under ``cache_dir()/ggml``, keyed by the checkpoint's fingerprint,
the storage type and the two asset files, written atomically, and described by a
manifest written last (its sha256, the weights' fingerprint, the tensor count) that is
checked before each use; a corrupt or half-written entry is rebuilt.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import WeightsIntegrityError
from .convert import Checkpoint
from .sources import (ResolvedModel, _write_atomically, cache_dir, checkpoint_fingerprint, load_checkpoint,
                      verified_sha256)

#: bump when the file's content changes, so old cache entries are not reused
LAYOUT_VERSION = 1
MAGIC = 0x67676D6C
#: ModelDimensions fields in the order whisper.cpp reads them
HPARAMS = ("n_vocab", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer",
           "n_text_ctx", "n_text_state", "n_text_head", "n_text_layer", "n_mels")
#: the file's storage type (whisper.cpp's ftype) → the element type of its matrices
FTYPES = {"float32": 0, "float16": 1}
_TENSOR_TYPES = {0: np.dtype("<f4"), 1: np.dtype("<f2")}
#: always float32 in whisper.cpp, whatever the file's ftype
_FLOAT32_ALWAYS = ("encoder.conv1.bias", "encoder.conv2.bias", "encoder.positional_embedding",
                   "decoder.positional_embedding")


def ggml_tensor(name: str, array: np.ndarray, ftype: int) -> tuple[np.ndarray, int]:
    """One checkpoint tensor as whisper.cpp stores it: (array in its storage type and shape, type code)."""
    if name in ("encoder.conv1.bias", "encoder.conv2.bias"):
        array = array.reshape(-1, 1)
    ttype = 0 if ftype == 0 or array.ndim < 2 or name in _FLOAT32_ALWAYS else 1
    return np.ascontiguousarray(array, _TENSOR_TYPES[ttype]), ttype


def vocabulary(tiktoken_file: Path) -> list[bytes]:
    """The text tokens of an openai-whisper ``.tiktoken`` file, in rank (= token id) order."""
    ranks = {}
    for line in tiktoken_file.read_bytes().splitlines():
        if line.strip():
            token, rank = line.split()
            ranks[int(rank)] = base64.b64decode(token)
    if sorted(ranks) != list(range(len(ranks))):
        raise WeightsIntegrityError(f"{tiktoken_file} does not number its tokens 0..N-1; reinstall "
                                    "openai-whisper (`pip install --force-reinstall openai-whisper`)")
    return [ranks[i] for i in range(len(ranks))]


def _int32(handle: BinaryIO, *values: int) -> None:
    handle.write(np.asarray(values, "<i4").tobytes())


def write_ggml(handle: BinaryIO, checkpoint: Checkpoint, mel_filters: np.ndarray, tokens: list[bytes],
               ftype: int) -> int:
    """Write the ggml file for ``checkpoint``; returns the number of tensors written."""
    _int32(handle, MAGIC, *(checkpoint.dims[name] for name in HPARAMS), ftype)
    _int32(handle, *mel_filters.shape)
    handle.write(np.ascontiguousarray(mel_filters, "<f4").tobytes())
    _int32(handle, len(tokens))
    for token in tokens:
        _int32(handle, len(token))
        handle.write(token)
    for name, array in checkpoint.state.items():
        data, ttype = ggml_tensor(name, array, ftype)
        encoded = name.encode()
        _int32(handle, data.ndim, len(encoded), ttype, *reversed(data.shape))
        handle.write(encoded)
        handle.write(data.tobytes())
    return len(checkpoint.state)


@dataclass(frozen=True)
class GgmlContents:
    """What a ggml file holds, read back without its data (tests, and checks of a cache entry)."""

    hparams: dict[str, int]
    ftype: int
    mel_filters_shape: tuple[int, int]
    n_tokens: int
    tensors: dict[str, tuple[int, tuple[int, ...], int]]  # name → (type code, numpy shape, data offset)


def read_ggml(path: Path) -> GgmlContents:
    """Parse a ggml file's header, filters, vocabulary and tensor directory (data skipped)."""
    with open(path, "rb") as handle:
        def ints(count: int) -> list[int]:
            raw = handle.read(4 * count)
            if len(raw) != 4 * count:
                raise WeightsIntegrityError(f"{path} is truncated: delete it and it will be written again")
            return np.frombuffer(raw, "<i4").tolist()

        magic, *values, ftype = ints(len(HPARAMS) + 2)
        if magic != MAGIC:
            raise WeightsIntegrityError(f"{path} is not a ggml file (magic {magic:#x}); delete it")
        n_mels, n_fft = ints(2)
        handle.seek(4 * n_mels * n_fft, 1)
        (n_tokens,) = ints(1)
        for _ in range(n_tokens):
            handle.seek(ints(1)[0], 1)
        tensors = {}
        while header := handle.read(12):
            n_dims, name_length, ttype = np.frombuffer(header, "<i4").tolist()
            shape = tuple(reversed(ints(n_dims)))
            name = handle.read(name_length).decode()
            tensors[name] = (ttype, shape, handle.tell())
            handle.seek(int(np.prod(shape)) * _TENSOR_TYPES[ttype].itemsize, 1)
    return GgmlContents(dict(zip(HPARAMS, values)), ftype, (n_mels, n_fft), n_tokens, tensors)


def read_tensor(path: Path, contents: GgmlContents, name: str) -> np.ndarray:
    """One tensor's data, in its stored type and numpy shape."""
    ttype, shape, offset = contents.tensors[name]
    return np.fromfile(path, _TENSOR_TYPES[ttype], int(np.prod(shape)), offset=offset).reshape(shape)


def _manifest_ok(model: Path, manifest: Path) -> bool:
    try:
        return verified_sha256(model) == json.loads(manifest.read_text())["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return False


def ggml_model_file(resolved: ResolvedModel, storage: str, mel_filters_npz: Path, tiktoken_file: Path) -> Path:
    """The cached ggml file of ``resolved`` with ``storage`` ("float16" or "float32") matrices.

    ``mel_filters_npz`` and ``tiktoken_file`` are openai-whisper's asset files; the caller
    finds them (``asrperf.whisper_assets``), so this layer imports no backend.
    The manifest beside the file (``.json``) is written last: an entry without one, or
    whose file no longer matches its sha256, is written again.
    """
    ftype = FTYPES[storage]
    fingerprint = checkpoint_fingerprint(resolved)
    assets = [verified_sha256(mel_filters_npz), verified_sha256(tiktoken_file)]
    key = hashlib.sha256("|".join([fingerprint, *assets, f"ggml-v{LAYOUT_VERSION}-{ftype}"]).encode()).hexdigest()
    target = cache_dir() / "ggml" / f"{resolved.name}-{storage}-{key[:16]}.bin"
    manifest = target.with_suffix(".json")
    if _manifest_ok(target, manifest):
        return target
    checkpoint = load_checkpoint(resolved)
    with np.load(mel_filters_npz) as filters:
        mel = filters[f"mel_{checkpoint.dims['n_mels']}"]
    tokens = vocabulary(tiktoken_file)
    written: list[int] = []

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            written.append(write_ggml(handle, checkpoint, mel, tokens, ftype))

    _write_atomically(target, write)
    record = {"layout": LAYOUT_VERSION, "storage": storage, "ftype": ftype, "weights_sha256": fingerprint,
              "source": resolved.source, "tensors": written[0], "sha256": verified_sha256(target),
              "assets_sha256": {"mel_filters": assets[0], "vocabulary": assets[1]}}
    _write_atomically(manifest, lambda tmp: tmp.write_text(json.dumps(record, indent=1)))
    return target


def read_manifest(model: Path) -> dict:
    """The manifest written beside a cached ggml file."""
    return json.loads(model.with_suffix(".json").read_text())
