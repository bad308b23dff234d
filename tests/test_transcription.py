"""The article's interface, with its defects fixed: pipelines shared per configuration."""

import pytest

import asrperf
from asrperf.backends import build_counts, make_config
from asrperf.corpus import utterances
from asrperf.errors import ConfigurationError

pytestmark = pytest.mark.cpu


def test_same_configuration_shares_one_pipeline():
    first = asrperf.Transcription(model_type="whisper", model_name="tiny.en")
    second = asrperf.Transcription(model_type="openai-whisper", model_name="tiny.en")
    assert first.set_pipeline() is second.set_pipeline()
    assert build_counts[first.config] == 1


def test_new_arguments_are_not_ignored():
    # The article's __new__ singleton returned the first instance whatever was asked next.
    whisper_cfg = asrperf.Transcription(model_type="whisper", model_name="tiny.en")
    jax_cfg = asrperf.Transcription(model_type="whisper_jax", model_name="tiny.en", batch_size=1)
    assert whisper_cfg.backend == "openai-whisper" and jax_cfg.backend == "jax"
    assert whisper_cfg.set_pipeline() is not jax_cfg.set_pipeline()
    assert jax_cfg.pipeline.backend_name == "jax"


@pytest.mark.parametrize("model_type,batch_size", [("whisper", None), ("whisper_jax", 8)])
def test_transcribe_multiple_runs_each_file_once(monkeypatch, model_type, batch_size):
    from asrperf.backends import base

    paths = [u.path for u in utterances()[:3]]
    job = asrperf.Transcription(model_type=model_type, model_name="tiny.en", batch_size=batch_size)
    alone = [job.run_pipeline(path) for path in paths]
    seen = []
    original = base.load_audio
    monkeypatch.setattr(base, "load_audio", lambda audio: seen.append(audio) or original(audio))
    results = job.transcribe_multiple(paths)
    assert seen == paths, "each file exactly once, in order (the article re-ran the last file)"
    assert results == alone  # batched across files (jax) or not, each file's own transcript
    for result in results:
        assert result and all(set(item) == {"timestamp", "text"} for item in result)
        assert all(isinstance(item["timestamp"], tuple) and len(item["timestamp"]) == 2 for item in result)


def test_run_pipeline_returns_the_article_dicts():
    utterance = utterances()[2]
    result = asrperf.Transcription(utterance.path, model_type="whisper", model_name="tiny.en").run_pipeline()
    assert result[0]["timestamp"][0] >= 0 and "text" in result[0]


def test_bad_arguments_are_named():
    with pytest.raises(ConfigurationError, match="model_type"):
        asrperf.Transcription(model_type="whisperx")
    with pytest.raises(ConfigurationError, match="device"):
        asrperf.Transcription(device="tpu")
    with pytest.raises(ConfigurationError, match="batch_size"):
        asrperf.Transcription(batch_size=0)
    with pytest.raises(ConfigurationError, match="no audio file"):
        asrperf.Transcription(model_name="tiny.en").run_pipeline()


def test_configs_are_hashable_and_distinct():
    assert make_config("whisper_jax") == make_config("jax")
    assert make_config("jax", batch_size=8) != make_config("jax", batch_size=4)


def test_available_backends_lists_the_registry():
    backends = asrperf.available_backends()
    assert {"openai-whisper", "jax"} <= set(backends)
    assert all(reason is None or "install" in reason or "import" in reason for reason in backends.values())
