"""A Hugging Face Flax model directory, written from asrperf's converted weights, for upstream whisper-jax.

whisper-jax loads models the Hugging Face way: ``config.json``, ``generation_config.json``,
``flax_model.msgpack``, ``preprocessor_config.json`` and a tokenizer. This module builds
that directory offline from the same converted checkpoint every other backend uses:

* parameters: openai names → transformers' PyTorch names (``hf_name``, the transformers
  backend's mapping) → Flax's layout (linear kernels [in, out], conv kernels
  [width, in, out], layer-norm ``scale``, embeddings ``embedding``), float32;
* tokenizer: ``vocab.json`` + ``merges.txt`` + ``added_tokens.json`` taken out of the
  packaged ``tokenizer.json``, because the ``tokenizers`` release that transformers 4.34
  needs cannot parse a current ``tokenizer.json``;
* the files that need whisper-jax's own stack (the msgpack, the configs written by
  transformers 4.34 itself) are written by the side environment (``export`` below runs
  ``whisper_jax_worker.py export``), which also checks every parameter's name and shape
  against the model whisper-jax builds.

The directory is cached under ``cache_dir()/flax`` like the converted checkpoints:
built in a temporary directory and renamed into place, with a manifest of every file's
sha256 (written last) that is checked before each use; a corrupt entry is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import ModelNotFoundError, WeightsIntegrityError
from .convert import Checkpoint
from .names import hf_name
from .sources import ResolvedModel, cache_dir, load_checkpoint, sha256_file

#: bump when the directory's content changes, so old cache entries are not reused
LAYOUT_VERSION = 1
MANIFEST = "asrperf-manifest.json"
PARAMS_FILE = "params.npz"  # hand-over to the side environment, deleted once the msgpack exists
EXPORT_SPEC = "export.json"


def flax_param(hf_torch_name: str, array: np.ndarray) -> tuple[str, np.ndarray]:
    """One transformers (PyTorch-layout) tensor → its Flax path ('/'-joined) and array."""
    module, _, leaf = hf_torch_name.rpartition(".")
    path = module.replace(".", "/")
    array = np.asarray(array, np.float32)
    if leaf == "bias":
        return f"{path}/bias", array
    if module.endswith(("embed_tokens", "embed_positions")):
        return f"{path}/embedding", array
    if module.endswith("layer_norm"):
        return f"{path}/scale", array
    if array.ndim == 3:  # conv1d: [out, in, width] → [width, in, out]
        return f"{path}/kernel", np.ascontiguousarray(array.transpose(2, 1, 0))
    return f"{path}/kernel", np.ascontiguousarray(array.T)  # linear: [out, in] → [in, out]


def flax_params(checkpoint: Checkpoint) -> dict[str, np.ndarray]:
    """The checkpoint as whisper-jax's flat parameter tree; the output projection is tied, not stored."""
    return dict(flax_param(hf_name(name), array) for name, array in checkpoint.state.items())


def tokenizer_files(tokenizer_json: Path) -> dict[str, str]:
    """GPT-2 style tokenizer files (what transformers 4.34 reads) from a ``tokenizer.json``."""
    data = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    model = data.get("model", {})
    if model.get("type") != "BPE" or "vocab" not in model or "merges" not in model:
        raise WeightsIntegrityError(f"{tokenizer_json} is not a byte-level BPE tokenizer.json")
    # Newer tokenizer.json files store merges as pairs, older ones as "a b" strings.
    merges = [" ".join(m) if isinstance(m, list) else m for m in model["merges"]]
    vocab = model["vocab"]
    added = {t["content"]: t["id"] for t in data.get("added_tokens", []) if t["content"] not in vocab}
    # Listed as special, or decoding with skip_special_tokens keeps <|startoftranscript|> and friends.
    special = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
               "pad_token": "<|endoftext|>",
               "additional_special_tokens": [t["content"] for t in data.get("added_tokens", []) if t.get("special")]}
    return {
        "vocab.json": json.dumps(vocab, ensure_ascii=False),
        "merges.txt": "#version: 0.2\n" + "\n".join(merges) + "\n",
        "added_tokens.json": json.dumps(added, ensure_ascii=False),
        "special_tokens_map.json": json.dumps(special),
        "tokenizer_config.json": json.dumps({**special, "tokenizer_class": "WhisperTokenizer",
                                             "model_max_length": 1024, "add_prefix_space": False}),
    }


def export_spec(checkpoint: Checkpoint) -> dict:
    """The model facts the side environment writes into config.json and generation_config.json.

    Token ids and openai-whisper's suppression lists come from asrperf's torch-free tokenizer
    (openai-whisper's vocabulary read with tiktoken) and ``token_rules.token_spec``, the rules the
    jax and torch ports run, so both JAX backends suppress exactly the same tokens.
    """
    from ..config import DecodingSettings
    from ..token_rules import token_spec
    from ..tokenizer import LANGUAGE_CODES, tokenizer_for_model

    dims = checkpoint.dims
    multilingual = not checkpoint.english_only
    tokenizer = tokenizer_for_model(dims["n_vocab"], language="en", task="transcribe")
    spec = token_spec(tokenizer, DecodingSettings(), dims["n_vocab"], dims["n_text_ctx"])
    languages = {}
    if multilingual:
        languages = {f"<|{code}|>": tokenizer.special(f"<|{code}|>")
                     for code in LANGUAGE_CODES[: tokenizer.num_languages]}
    return {
        "dims": dims,
        "sot": tokenizer.sot, "eot": tokenizer.eot, "no_timestamps": tokenizer.no_timestamps,
        "sot_prev": tokenizer.sot_prev, "multilingual": multilingual, "lang_to_id": languages,
        "task_to_id": {"transcribe": tokenizer.transcribe, "translate": tokenizer.translate} if multilingual else {},
        "suppress_tokens": list(spec.suppress), "begin_suppress_tokens": list(spec.blank),
        "alignment_heads": [list(h) for h in checkpoint.alignment_heads],
        "weights_sha256": checkpoint.fingerprint(),
    }


def _manifest_ok(directory: Path) -> bool:
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        return all(sha256_file(directory / name) == digest for name, digest in manifest["files"].items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


def read_manifest(directory: Path) -> dict:
    return json.loads((directory / MANIFEST).read_text())


def flax_model_dir(resolved: ResolvedModel, export: Callable[[Path], None]) -> Path:
    """The cached Flax directory for ``resolved``, built on first use.

    ``export(directory)`` runs the side environment's half of the job in a directory that
    holds ``params.npz`` and ``export.json``: it writes the msgpack and the configs.
    """
    if resolved.tokenizer_json is None:
        raise ModelNotFoundError(f"the whisper-jax backend needs a tokenizer.json beside the weights; "
                                 f"{resolved.source} has none")
    source = "|".join(resolved.pinned_sha256 or map(str, resolved.paths))
    key = hashlib.sha256(f"{source}|flax-v{LAYOUT_VERSION}".encode()).hexdigest()[:16]
    target = cache_dir() / "flax" / f"{resolved.name}-{key}"
    if _manifest_ok(target):
        return target
    work = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        checkpoint = load_checkpoint(resolved)
        np.savez(work / PARAMS_FILE, **flax_params(checkpoint))
        spec = export_spec(checkpoint)
        (work / EXPORT_SPEC).write_text(json.dumps(spec))
        for name, text in tokenizer_files(resolved.tokenizer_json).items():
            (work / name).write_text(text, encoding="utf-8")
        export(work)
        (work / PARAMS_FILE).unlink(missing_ok=True)
        files = {p.name: sha256_file(p) for p in sorted(work.iterdir()) if p.is_file()}
        manifest = {"layout": LAYOUT_VERSION, "weights_sha256": spec["weights_sha256"], "source": resolved.source,
                    "files": files}
        (work / MANIFEST).write_text(json.dumps(manifest, indent=1))
        if target.exists():
            if _manifest_ok(target):  # another process finished the same entry first
                return target
            shutil.rmtree(target)
        os.rename(work, target)
    except OSError:
        if _manifest_ok(target):  # lost a rename race to an equal, complete entry
            return target
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
