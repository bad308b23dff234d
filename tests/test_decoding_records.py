"""Identical settings, proven: what each backend passed its library, recorded from the call itself.

Every backend fills an ``asrperf.decoding_record.DecodingRecord`` from the call it made
(openai-whisper's DecodingOptions, CTranslate2's generate arguments, transformers'
generate arguments over its generation config, the jax TokenSpec). The records must be
equal across backends and algorithms, the token counts must mean the same thing, and
every backend must get the same CPU threads.
"""

import json
import subprocess
import sys

import pytest

from asrperf.config import DecodingSettings
from asrperf.corpus import utterances
from asrperf.decoding_record import DecodingRecord, initial_timestamp_index
from asrperf.hardware import cpu_threads
from asrperf.segments import join_text

pytestmark = pytest.mark.cpu

UTTERANCE = utterances()[3]
REFERENCE = "openai-whisper sequential"
RUNS = {
    REFERENCE: dict(backend="openai-whisper"),
    "openai-whisper chunked": dict(backend="openai-whisper", longform="chunked", batch_size=8),
    "jax sequential": dict(backend="jax", longform="sequential"),
    "jax chunked": dict(backend="jax", batch_size=1),
    "faster-whisper sequential": dict(backend="faster-whisper"),
    "faster-whisper chunked": dict(backend="faster-whisper", batch_size=4),
    "transformers chunked": dict(backend="transformers", batch_size=4),
    "torch chunked": dict(backend="torch", batch_size=8, compile="none"),  # the decoding code is the same compiled
    "torch sequential": dict(backend="torch", longform="sequential", compile="none"),
    "whisper-cpp sequential": dict(backend="whisper-cpp"),
}
#: fields a backend's library cannot be told to match, each named in the backend's upstream_rules
#: (tests/test_whisper_cpp.py checks what the differences are)
UPSTREAM_DIFFERENCES = {"whisper-cpp sequential": {"max_new_tokens", "suppress_tokens"}}


@pytest.fixture(scope="module")
def runs(pipeline):
    """name → (pipeline, transcript of UTTERANCE, its decoding record, the Run)."""
    done = {}

    def get(name):
        if name not in done:
            pipe = pipeline(**RUNS[name])
            run = pipe.run(UTTERANCE.path)
            done[name] = (pipe, join_text(run.segments), run.decoding, run)
        return done[name]

    return get


def test_the_reference_record_is_what_the_settings_ask(runs):
    settings = DecodingSettings()
    record = runs(REFERENCE)[2]
    assert (record.beam_size, record.temperature) == (1, 0.0)
    assert record.max_new_tokens == settings.max_new_tokens
    assert record.suppress_blank and record.timestamps and not record.condition_on_previous_text
    assert record.max_initial_timestamp_index == initial_timestamp_index(settings.max_initial_timestamp) == 50
    assert (record.language, record.task) == ("en", "transcribe")
    assert len(record.suppress_tokens) > 50  # openai-whisper's non-speech symbols and special tokens


@pytest.mark.parametrize("name", [n for n in RUNS if n != REFERENCE])
def test_records_are_equal_across_backends(runs, name):
    reference, record = runs(REFERENCE)[2], runs(name)[2]
    differences = {k: (v, reference.as_dict()[k]) for k, v in record.as_dict().items() if v != reference.as_dict()[k]
                   and k not in UPSTREAM_DIFFERENCES.get(name, ())}
    assert not differences, f"{name} passed other decoding arguments than openai-whisper: {differences}"


@pytest.mark.parametrize("name", [n for n in RUNS if n != REFERENCE])
def test_tokens_mean_the_same_for_every_backend(runs, name):
    """Sampled text and timestamp tokens, no prompt, no end-of-text: the same text gives the same count."""
    _, reference_text, _, reference = runs(REFERENCE)
    _, text, _, run = runs(name)
    assert run.windows == 1 and run.max_length_hits == 0
    if text == reference_text:
        assert run.tokens == reference.tokens, (text, reference_text)
    else:
        assert abs(run.tokens - reference.tokens) <= 0.2 * reference.tokens


@pytest.mark.parametrize("name", list(RUNS))
def test_every_backend_gets_the_same_threads(runs, request, name):
    expected = request.config.getoption("--asrperf-threads") or cpu_threads()
    info = runs(name)[0].describe()
    assert info["threads"] == expected, info["threads_source"]


# The multilingual model, in test_backends.py's configurations (so its pipelines are shared).
BASE_RUNS = [("openai-whisper", None), ("jax", 1), ("faster-whisper", None), ("transformers", 4)]


@pytest.mark.calibration  # the base model, as its parity and transcripts are
def test_multilingual_records_agree_and_force_english(pipeline):
    """base has language and task tokens and another vocabulary: the records must still agree."""
    records = {}
    for backend, batch in BASE_RUNS:
        pipe = pipeline(backend, "base", batch_size=batch)
        records[backend] = pipe.run(UTTERANCE.path).decoding
    reference = records["openai-whisper"]
    assert (reference.language, reference.task) == ("en", "transcribe")
    assert all(record == reference for record in records.values()), records


LIMITED = DecodingSettings(max_new_tokens=5)


@pytest.mark.parametrize("name", ["openai-whisper sequential", "jax chunked", "faster-whisper sequential",
                                  "faster-whisper chunked", "transformers chunked"])
def test_the_token_limit_reaches_the_library_and_its_hits_are_counted(pipeline, name):
    """A setting changed in DecodingSettings shows in the record only if the backend passed it on."""
    pipe = pipeline(**RUNS[name], decoding=LIMITED)
    stats = pipe.run(UTTERANCE.path)
    assert stats.decoding.max_new_tokens == 5
    assert stats.windows >= 1 and stats.max_length_hits == stats.windows and stats.tokens == 5 * stats.windows


@pytest.mark.processes
def test_cold_processes_get_the_requested_threads(tmp_path):
    from asrperf.audio import write_wav

    audio = tmp_path / "utt.wav"
    write_wav(audio, UTTERANCE.samples())
    out = subprocess.run([sys.executable, "-m", "asrperf.bench.cold", "--backend", "faster-whisper",
                          "--threads", "1", str(audio)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])["description"]
    assert result["threads"] == 1 and result["longform"] == "sequential"


def test_a_record_round_trips_through_a_plain_dict(runs):
    """Backends in other processes (the whisper-jax worker) hand their record over as JSON."""
    record = runs(REFERENCE)[2]
    assert DecodingRecord.from_dict(json.loads(json.dumps(record.as_dict()))) == record
    summary = record.summary()
    assert summary["suppress_tokens_count"] == len(record.suppress_tokens) and "suppress_tokens" not in summary
    with pytest.raises(ValueError, match="missing"):
        DecodingRecord.from_dict({"beam_size": 1})
