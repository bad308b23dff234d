"""Read CTranslate2's ``model.bin`` without CTranslate2.

The format is small and stable (binary version 6 here): a uint32 version, a
length-prefixed spec name, a uint32 revision and a uint32 variable count; then per
variable a length-prefixed name, a uint8 rank, rank uint32 dimensions, a uint8 dtype
code, a uint32 byte count and the raw little-endian data; then aliases (pairs of
names). Strings are uint16-length-prefixed and NUL-terminated. Reading it ourselves
keeps the PyTorch and JAX backends free of a CTranslate2 dependency and lets a
model split across several files (``model.bin.part1``, ``.part2``) be read as one.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import BinaryIO, Sequence

import numpy as np

from ..errors import WeightsIntegrityError

# CTranslate2's DataType enum.
_DTYPES = {
    0: np.dtype("<f4"),
    1: np.dtype("i1"),
    2: np.dtype("<i2"),
    3: np.dtype("<i4"),
    4: np.dtype("<f2"),
}
_SUPPORTED_VERSIONS = (5, 6)


@dataclass(frozen=True)
class CT2Model:
    spec: str
    revision: int
    variables: dict[str, np.ndarray]
    aliases: dict[str, str]

    def get(self, name: str) -> np.ndarray:
        return self.variables[self.aliases.get(name, name)]

    def scalar(self, name: str) -> int:
        return int(self.get(name).reshape(()))


class _ConcatenatedFiles:
    """A read-only stream over files laid end to end, as ``cat part1 part2`` would give."""

    def __init__(self, paths: Sequence[str | os.PathLike]):
        self._paths = list(paths)
        self._index = 0
        self._current: BinaryIO | None = open(self._paths[0], "rb")

    def read(self, size: int) -> bytes:
        chunks = []
        while size > 0 and self._current is not None:
            data = self._current.read(size)
            chunks.append(data)
            size -= len(data)
            if size > 0:
                self._advance()
        return b"".join(chunks)

    def _advance(self) -> None:
        assert self._current is not None
        self._current.close()
        self._index += 1
        self._current = open(self._paths[self._index], "rb") if self._index < len(self._paths) else None

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None


def read_ct2_model(parts: Sequence[str | os.PathLike]) -> CT2Model:
    """Read a CTranslate2 model from one ``model.bin`` or its parts, in order."""
    stream = _ConcatenatedFiles(parts)
    label = " + ".join(os.path.basename(str(p)) for p in parts)
    try:
        return _parse(stream, label)
    except (struct.error, UnicodeDecodeError, ValueError) as exc:
        raise WeightsIntegrityError(
            f"{label} is not a readable CTranslate2 model ({exc}); reinstall the package that ships it"
        ) from None
    finally:
        stream.close()


def _parse(stream: _ConcatenatedFiles, label: str) -> CT2Model:
    def unpack(fmt: str):
        size = struct.calcsize("<" + fmt)
        data = stream.read(size)
        if len(data) != size:
            raise ValueError("file ends early")
        return struct.unpack("<" + fmt, data)

    def string() -> str:
        (length,) = unpack("H")
        return stream.read(length).rstrip(b"\0").decode("utf-8")

    (version,) = unpack("I")
    if version not in _SUPPORTED_VERSIONS:
        raise WeightsIntegrityError(f"{label}: CTranslate2 binary version {version} is not supported (5 or 6 are)")
    spec = string()
    (revision,) = unpack("I")
    (count,) = unpack("I")
    variables: dict[str, np.ndarray] = {}
    for _ in range(count):
        name = string()
        (rank,) = unpack("B")
        shape = unpack("I" * rank) if rank else ()
        (code,) = unpack("B")
        (nbytes,) = unpack("I")
        if code not in _DTYPES:
            raise WeightsIntegrityError(f"{label}: variable {name} has unsupported dtype code {code}")
        data = stream.read(nbytes)
        if len(data) != nbytes:
            raise ValueError(f"variable {name} is cut short")
        variables[name] = np.frombuffer(data, dtype=_DTYPES[code]).reshape(shape)
    aliases: dict[str, str] = {}
    alias_header = stream.read(4)
    if len(alias_header) == 4:
        (alias_count,) = struct.unpack("<I", alias_header)
        for _ in range(alias_count):
            alias = string()
            aliases[alias] = string()
    return CT2Model(spec=spec, revision=revision, variables=variables, aliases=aliases)
