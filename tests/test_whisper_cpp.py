"""whisper.cpp through pywhispercpp: the ggml file asrperf writes, no network, decoding, agreement."""

import socket

import numpy as np
import pytest

from asrperf import tolerances
from asrperf.backends import load_pipeline, unavailable_reason
from asrperf.corpus import utterances
from asrperf.errors import ConfigurationError
from asrperf.metrics import wer
from asrperf.segments import Segment, join_text

pytestmark = pytest.mark.cpu

INSTALL = "pip install 'asrperf[cpp]'"
#: a few utterances for agreement: real speech where a corpus is in use (the full corpus is measured with
#: the CLI and recorded in tolerances.py; all 32 clips would cost this suite half a minute or more)
AGREEMENT_ITEMS = 3


@pytest.fixture(scope="module")
def cpp(pipeline):
    if unavailable_reason("whisper-cpp"):
        pytest.skip(f"whisper-cpp is unavailable ({unavailable_reason('whisper-cpp')}): {INSTALL}")
    return pipeline("whisper-cpp", "tiny.en")


@pytest.fixture(scope="module")
def assets():
    pytest.importorskip("whisper", reason=f"openai-whisper's assets: {INSTALL}")
    from asrperf.whisper_assets import whisper_asset

    return whisper_asset("mel_filters.npz"), whisper_asset("gpt2.tiktoken")


def test_ggml_file_round_trip_and_rebuild(tmp_path, monkeypatch, assets):
    from asrperf.weights.ggml import ggml_model_file, read_ggml, read_manifest, read_tensor
    from asrperf.weights.sources import load_checkpoint, resolve_model, sha256_file

    monkeypatch.setenv("ASRPERF_CACHE_DIR", str(tmp_path))
    resolved = resolve_model("tiny.en")
    checkpoint = load_checkpoint(resolved)
    path = ggml_model_file(resolved, "float16", *assets)
    contents = read_ggml(path)
    assert contents.hparams == checkpoint.dims and contents.ftype == 1
    assert contents.mel_filters_shape == (80, 201) and contents.n_tokens == 50256
    assert set(contents.tensors) == set(checkpoint.state) and len(contents.tensors) == 167
    for name, (ttype, shape, _) in contents.tensors.items():
        vector = checkpoint.state[name].ndim < 2 or "bias" in name or "positional" in name
        assert ttype == (0 if vector else 1), name  # float32 vectors, float16 matrices
    # Bit for bit: float16 stays float16; float32 holds the float16 values exactly.
    embedding = "decoder.token_embedding.weight"
    assert np.array_equal(read_tensor(path, contents, embedding).view(np.uint16),
                          checkpoint.state[embedding].view(np.uint16))
    assert read_tensor(path, contents, "encoder.conv1.bias").shape == (384, 1)
    np.testing.assert_array_equal(read_tensor(path, contents, "encoder.conv1.bias")[:, 0],
                                  checkpoint.state["encoder.conv1.bias"].astype(np.float32))
    manifest = read_manifest(path)
    assert manifest["sha256"] == sha256_file(path) and manifest["tensors"] == 167
    assert manifest["weights_sha256"] == checkpoint.fingerprint()
    good = manifest["sha256"]
    with open(path, "r+b") as handle:  # corrupt a weight
        handle.seek(-100, 2)
        handle.write(b"\xff" * 8)
    assert ggml_model_file(resolved, "float16", *assets) == path and sha256_file(path) == good
    path.with_suffix(".json").write_text("{")  # a half-written manifest
    assert ggml_model_file(resolved, "float16", *assets) == path and read_manifest(path)["sha256"] == good
    assert not list(tmp_path.rglob("*.tmp"))


def test_no_network_access(monkeypatch, cpp):
    """The model is always a path: pywhispercpp's downloader, and any socket, are never reached."""
    import pywhispercpp.utils

    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(pywhispercpp.utils, "download_model", refuse)
    fresh = load_pipeline("whisper-cpp", "tiny.en")
    try:
        assert fresh.model_file.is_file()
        assert join_text(fresh.transcribe(utterances()[3].path))
    finally:
        fresh.close()
    assert attempts == []


def test_real_speech_clip(cpp, real_corpus):
    item = real_corpus.utterances[0] if real_corpus is not None else utterances()[0]
    assert wer(item.text, join_text(cpp.transcribe(item.path))) <= tolerances.BENCHMARK_MAX_WER["real-utt"]


def test_synthetic_corpus_subset(cpp):
    items = utterances()[::16]
    texts = [join_text(s) for s in cpp.transcribe_many([u.path for u in items])]
    assert wer([u.text for u in items], texts) <= tolerances.MAX_WER


@pytest.fixture(scope="module")
def agreement(cpp, pipeline, real_corpus):
    """(utterances, whisper-cpp's texts, openai-whisper sequential's texts, limits)."""
    from .corpus_runs import agreement_utterances

    items = agreement_utterances(real_corpus)[:AGREEMENT_ITEMS]
    reference = pipeline("openai-whisper", "tiny.en")
    texts = [[join_text(pipe.transcribe(u.path)) for u in items] for pipe in (cpp, reference)]
    limits = tolerances.SYNTHETIC_AGREEMENT if real_corpus is None else tolerances.REAL_SPEECH_AGREEMENT
    return items, *texts, limits


def test_agreement_with_openai_whisper(agreement):
    items, ours, reference, limits = agreement
    assert wer(reference, ours) <= limits.max_pairwise_wer
    for item, x, y in zip(items, ours, reference):
        assert wer(y, x) <= limits.max_pairwise_wer_per_utterance, (item.id, x, y)


def test_segment_schema_matches_openai_whisper(cpp, pipeline):
    item = utterances()[5]
    ours, reference = cpp.transcribe(item.path), pipeline("openai-whisper", "tiny.en").transcribe(item.path)
    duration = len(item.samples()) / 16000
    assert ours and all(type(s) is Segment for s in ours)
    assert [type(v) for v in ours[0].to_dict().values()] == [type(v) for v in reference[0].to_dict().values()]
    assert all(0 <= s.start <= s.end <= duration + 0.01 and s.text == s.text.strip() and s.text for s in ours)
    assert [s.start for s in ours] == sorted(s.start for s in ours)
    # 10 ms units converted to seconds: the same span as openai-whisper's to within a timestamp or two
    assert abs(ours[0].start - reference[0].start) <= 0.1 and abs(ours[-1].end - reference[-1].end) <= 0.5


def test_decoding_record_differs_from_openai_whisper_only_where_upstream_says(cpp, pipeline):
    from asrperf.tokenizer import tokenizer_for_model

    item = utterances()[3]
    run, reference = cpp.run(item.path), pipeline("openai-whisper", "tiny.en").run(item.path)
    ours, theirs = run.decoding.as_dict(), reference.decoding.as_dict()
    assert {k for k in ours if ours[k] != theirs[k]} <= {"max_new_tokens", "suppress_tokens"}
    assert (ours["max_new_tokens"], theirs["max_new_tokens"]) == (220, 224)
    tokenizer = tokenizer_for_model(51864)
    languages = set(range(tokenizer.sot + 1, tokenizer.translate))
    extra, missing = set(ours["suppress_tokens"]) - set(theirs["suppress_tokens"]), \
        set(theirs["suppress_tokens"]) - set(ours["suppress_tokens"])
    assert extra == languages  # whisper.cpp bans every language token
    for token in missing:  # only byte prefixes of several symbols, which no whole-token lookup finds
        with pytest.raises(UnicodeDecodeError):
            tokenizer.encoding.decode_single_token_bytes(token).decode("utf-8")
    assert len(missing) <= 2
    rules = " ".join(cpp.describe()["upstream_rules"])
    assert "220" in rules and "language tokens" in rules and "musical" in rules
    # Same text → same token count: sampled text and timestamp tokens, end-of-text not counted.
    if join_text(run.segments) == join_text(reference.segments):
        assert run.tokens == reference.tokens
    assert run.windows == 1 and run.max_length_hits == 0


def test_what_a_row_records(cpp):
    info = cpp.describe()
    assert info["longform"] == "sequential" and info["threads_source"].startswith("whisper.cpp n_threads")
    assert "AVX2" in info["system_info"] and info["library_versions"]["whisper.cpp"].startswith("1.8")
    assert info["ggml_type"].startswith("ftype 1") and info["dtype"] == "float16"
    assert info["weights_sha256"] and info["upstream_rules"]


def test_settings_whisper_cpp_cannot_run_are_refused(cpp):
    from asrperf.config import DecodingSettings

    with pytest.raises(ConfigurationError, match="max_new_tokens=5"):
        load_pipeline("whisper-cpp", "tiny.en", decoding=DecodingSettings(max_new_tokens=5))
    with pytest.raises(ConfigurationError, match="sequential"):
        load_pipeline("whisper-cpp", "tiny.en", longform="chunked")
    with pytest.raises(ConfigurationError, match="one window at a time"):
        load_pipeline("whisper-cpp", "tiny.en", batch_size=8)


def test_missing_package_says_what_to_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "pywhispercpp" else real(name, *args))
    assert INSTALL in unavailable_reason("whisper-cpp")
