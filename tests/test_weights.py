import os
import shutil
import time
from dataclasses import replace

import numpy as np
import pytest

from asrperf.errors import ModelNotFoundError, WeightsIntegrityError
from asrperf.weights import sources
from asrperf.weights.convert import conversion_plan, convert, take, zero_key_biases
from asrperf.weights.ctranslate2 import read_ct2_model

pytestmark = pytest.mark.cpu


@pytest.fixture(scope="module", params=["tiny.en", "base"])
def packaged(request):
    resolved = sources.resolve_model(request.param)
    if resolved.kind != "ctranslate2":
        pytest.skip(f"{request.param} resolves to {resolved.source}, not the packaged CTranslate2 weights")
    return resolved, read_ct2_model(resolved.paths)


def test_conversion_is_lossless(packaged):
    resolved, ct2 = packaged
    checkpoint = convert(ct2)
    plan = conversion_plan(checkpoint.dims)
    assert set(checkpoint.state) == {piece.openai_name for piece in plan}
    for piece in plan:
        converted, source = checkpoint.state[piece.openai_name], take(ct2, piece)
        assert converted.dtype == source.dtype == np.float16
        assert converted.shape == source.shape
        assert np.array_equal(converted.view(np.uint16), source.view(np.uint16)), piece.openai_name
    # Nothing CTranslate2 stores is dropped except key biases, which are exactly zero.
    used = {piece.ct2_name for piece in plan}
    floats = {name for name, value in ct2.variables.items() if value.dtype == np.float16}
    assert floats <= used
    for piece in zero_key_biases(checkpoint.dims):
        assert not take(ct2, piece).any()


def test_converted_checkpoint_loads_in_openai_whisper(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch", reason="pip install 'asrperf[torch]' to check the openai-whisper load")
    whisper = pytest.importorskip("whisper", reason="pip install 'asrperf[torch]'")
    monkeypatch.setenv("ASRPERF_CACHE_DIR", str(tmp_path))
    resolved = sources.resolve_model("tiny.en")
    path = sources.checkpoint_file(resolved)
    model = whisper.load_model(str(path), device="cpu")
    reference = sources.load_checkpoint(resolved)
    for name, value in model.state_dict().items():
        assert torch.equal(value.cpu(), torch.from_numpy(reference.state[name].copy())), name
    assert model.dims.n_vocab == 51864 and not model.is_multilingual


def test_cache_entry_is_reused_and_corruption_rebuilt(tmp_path, monkeypatch):
    pytest.importorskip("torch", reason="pip install 'asrperf[torch]'")
    monkeypatch.setenv("ASRPERF_CACHE_DIR", str(tmp_path))
    resolved = sources.resolve_model("tiny.en")
    path = sources.checkpoint_file(resolved)
    stamp = path.stat().st_mtime_ns
    assert sources.checkpoint_file(resolved) == path and path.stat().st_mtime_ns == stamp
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])  # an interrupted copy, say
    assert sources.checkpoint_file(resolved) == path
    assert path.read_bytes() == good
    assert not list(path.parent.glob(".*.tmp")), "no temporary files may be left behind"


def test_pinned_sha256_catches_a_modified_package_file(tmp_path):
    resolved = sources.resolve_model("tiny.en")
    copy = tmp_path / "model.bin"
    shutil.copyfile(resolved.paths[0], copy)
    with open(copy, "r+b") as handle:
        handle.seek(-10, 2)
        handle.write(b"\x00\x01\x02")
    tampered = replace(resolved, paths=(copy,))
    with pytest.raises(WeightsIntegrityError, match="pinned sha256"):
        sources.load_checkpoint(tampered)


def test_whisper_cache_file_with_wrong_sha256(tmp_path, monkeypatch):
    pytest.importorskip("whisper", reason="pip install 'asrperf[torch]'")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    (tmp_path / "whisper").mkdir()
    (tmp_path / "whisper" / "tiny.pt").write_bytes(b"not the real checkpoint")
    with pytest.raises(WeightsIntegrityError, match="fails its sha256"):
        sources.resolve_model("tiny")


def test_missing_and_unknown_models_explain_themselves(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(ModelNotFoundError) as missing:
        sources.resolve_model("large-v2")
    message = str(missing.value)
    assert "large-v2" in message and "whisper" in message and "--download large-v2" in message
    with pytest.raises(ModelNotFoundError, match="known names are"):
        sources.resolve_model("huge-v9")


def test_truncated_ct2_file_is_an_integrity_error(tmp_path):
    resolved = sources.resolve_model("tiny.en")
    cut = tmp_path / "model.bin"
    cut.write_bytes(resolved.paths[0].read_bytes()[:1_000_000])
    with pytest.raises(WeightsIntegrityError, match="not a readable CTranslate2 model"):
        read_ct2_model([cut])


def test_user_paths_resolve(tmp_path, monkeypatch):
    pytest.importorskip("torch", reason="pip install 'asrperf[torch]'")
    monkeypatch.setenv("ASRPERF_CACHE_DIR", str(tmp_path))
    pt = sources.checkpoint_file(sources.resolve_model("tiny.en"))
    resolved = sources.resolve_model(str(pt))
    assert resolved.kind == "checkpoint"
    assert sources.load_checkpoint(resolved).fingerprint() == sources.weights_fingerprint("tiny.en")


def aged_copy(source, target):
    """A copy whose modification time is an hour old: settled, so its hash may be remembered."""
    shutil.copyfile(source, target)
    hour_ago = time.time_ns() - 3600 * 10**9
    os.utime(target, ns=(hour_ago, hour_ago))
    return target


def test_weights_are_hashed_once_per_version_and_changes_are_caught(tmp_path, monkeypatch):
    monkeypatch.setenv("ASRPERF_CACHE_DIR", str(tmp_path / "cache"))
    resolved = sources.resolve_model("tiny.en")
    if resolved.kind != "ctranslate2":
        pytest.skip(f"tiny.en resolves to {resolved.source}, not the packaged CTranslate2 weights")
    copies = [aged_copy(p, tmp_path / p.name) for p in (*resolved.paths, resolved.ct2_config, resolved.tokenizer_json)]
    local = replace(resolved, paths=(copies[0],), ct2_config=copies[1], tokenizer_json=copies[2])
    hashed = []
    real_sha256 = sources.sha256_file
    monkeypatch.setattr(sources, "sha256_file", lambda path, *rest: hashed.append(path) or real_sha256(path, *rest))

    sources.verify_pinned(local)
    sources.verify_pinned(local)
    assert hashed == copies, "an unchanged file is hashed once, then its verified hash is reused"

    model_bin = copies[0]
    recorded = model_bin.stat()
    os.utime(model_bin, ns=(recorded.st_atime_ns, recorded.st_mtime_ns - 10**9))  # touched, content unchanged
    sources.verify_pinned(local)
    assert hashed[3:] == [model_bin]

    with open(model_bin, "r+b") as handle:  # same size, and the modification time put back afterwards
        handle.seek(-10, 2)
        handle.write(b"\x00\x01\x02")
    os.utime(model_bin, ns=(recorded.st_atime_ns, recorded.st_mtime_ns - 10**9))
    with pytest.raises(WeightsIntegrityError, match="pinned sha256"):
        sources.verify_pinned(local)


def test_fingerprint_is_computed_once_per_version(tmp_path, monkeypatch):
    monkeypatch.setenv("ASRPERF_CACHE_DIR", str(tmp_path))
    resolved = sources.resolve_model("tiny.en")
    expected = sources.load_checkpoint(resolved).fingerprint()
    loads = []
    real_load = sources.load_checkpoint
    monkeypatch.setattr(sources, "load_checkpoint", lambda r: loads.append(r) or real_load(r))
    assert sources.checkpoint_fingerprint(resolved) == expected
    assert sources.checkpoint_fingerprint(resolved) == expected
    assert len(loads) == 1, "the second fingerprint is read from the verified record"
