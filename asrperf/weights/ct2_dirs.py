"""CTranslate2 model directories for faster-whisper, from the packaged weights.

faster-whisper loads a directory holding one ``model.bin``. ``tiny.en`` ships as such
a directory; ``base`` ships as two parts, which are joined once into asrperf's cache
(atomically, and checked against the pinned hashes of the parts before joining).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from .sources import ResolvedModel, _write_atomically, cache_dir, sha256_file, verify_pinned


def ct2_directory(resolved: ResolvedModel) -> Path:
    """A directory faster-whisper can load for a CTranslate2 source."""
    if resolved.kind != "ctranslate2":
        raise ValueError(f"{resolved.source} is not a CTranslate2 model")
    if len(resolved.paths) == 1:
        return resolved.paths[0].parent
    key = hashlib.sha256("|".join(resolved.pinned_sha256).encode()).hexdigest()[:16]
    target = cache_dir() / "ct2" / f"{resolved.name}-{key}"
    model_bin = target / "model.bin"
    sidecar = target / "model.bin.sha256"
    if model_bin.exists() and sidecar.exists() and sha256_file(model_bin) == sidecar.read_text().strip():
        return target
    verify_pinned(resolved)
    target.mkdir(parents=True, exist_ok=True)

    def join(tmp: Path) -> None:
        with open(tmp, "wb") as out:
            for part in resolved.paths:
                with open(part, "rb") as source:
                    shutil.copyfileobj(source, out, 1 << 22)

    _write_atomically(model_bin, join)
    for extra in (resolved.ct2_config, resolved.tokenizer_json):
        if extra is not None:
            _write_atomically(target / extra.name, lambda tmp, src=extra: shutil.copyfile(src, tmp))
    vocabulary = resolved.paths[-1].parent / "vocabulary.json"
    if vocabulary.exists():
        _write_atomically(target / vocabulary.name, lambda tmp: shutil.copyfile(vocabulary, tmp))
    _write_atomically(sidecar, lambda tmp: tmp.write_text(sha256_file(model_bin)))
    return target
