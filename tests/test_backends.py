"""Every backend: the shared output contract (WER agreement lives in test_agreement.py)."""

import numpy as np
import pytest

from asrperf import tolerances
from asrperf.corpus import utterances
from asrperf.metrics import wer
from asrperf.segments import Segment, join_text

from .corpus_runs import AGREEMENT_BACKENDS, CLIPS, agreement_backend_params, agreement_utterances

pytestmark = pytest.mark.cpu


# The contract is checked on the runs the per-clip limits use (tests/test_external_corpus.py): the first
# CLIPS utterances of the agreement set, real speech where a corpus is in use, each transcribed once a session.
@pytest.fixture(scope="module", params=agreement_backend_params())
def transcripts(request, pipeline, agreement_runs, real_corpus):
    name = request.param
    runs = agreement_runs(name, CLIPS)  # skips when the backend cannot run here
    return pipeline(model="tiny.en", **AGREEMENT_BACKENDS[name]), runs, agreement_utterances(real_corpus)[:CLIPS]


def check_schema(segments, duration):
    assert isinstance(segments, list)
    for s in segments:
        assert isinstance(s, Segment)
        assert isinstance(s.start, float) and isinstance(s.end, float)
        assert 0.0 <= s.start <= s.end <= duration + tolerances.MAX_SEGMENT_END_PAST_AUDIO_S
        assert s.text.strip()
    starts = [s.start for s in segments]
    assert starts == sorted(starts)


def test_segments_follow_the_contract(transcripts):
    _, runs, items = transcripts
    assert len(runs) == len(items) == CLIPS
    for utterance, run in zip(items, runs):
        assert run.segments, f"no speech found in {utterance.id}"
        check_schema(run.segments, utterance.duration_s)


def test_run_stats_and_description(transcripts):
    pipe, runs, items = transcripts
    stats = runs[-1]
    assert stats.audio_s == pytest.approx(items[-1].duration_s, abs=1e-3)
    assert stats.windows >= 1 and stats.tokens > 0 and stats.max_length_hits == 0
    info = pipe.describe()
    assert info["backend"] == pipe.backend_name and info["model"] == "tiny.en"
    assert info["decoding"].startswith("greedy t=0.0 beam=1 fallback=none prev_text=off")
    assert info["weights_sha256"] and stats.decoding is not None  # from the loaded weights, and the call


def test_empty_audio_gives_no_segments(transcripts):
    pipe, _, _ = transcripts
    assert pipe.transcribe(np.zeros(0, np.float32)) == []


BASE_SUBSET = utterances()[1::8]


# Four more model loads: a calibration run (make test), not the laptop check. Under -m cpu the decoding
# records of the multilingual model say English for every backend (tests/test_decoding_records.py).
@pytest.mark.calibration
@pytest.mark.parametrize("backend,batch", [("openai-whisper", None), ("jax", 1), ("faster-whisper", None),
                                           ("transformers", 4)])
def test_base_multilingual_model_forced_to_english(pipeline, backend, batch):
    pipe = pipeline(backend, "base", batch_size=batch)
    outputs = [pipe.transcribe(u.path) for u in BASE_SUBSET]
    score = wer([u.text for u in BASE_SUBSET], [join_text(o) for o in outputs])
    assert score <= tolerances.MAX_WER_BASE_SUBSET, f"{backend} base: WER {score:.3f}"
    assert pipe.describe()["decoding"].count("lang=en") == 1


def test_faster_whisper_batched_consumes_its_generator(pipeline):
    pipe = pipeline("faster-whisper", "tiny.en", batch_size=4)
    utterance = utterances()[3]
    run = pipe.run(utterance.path)
    segments = run.segments
    check_schema(segments, utterance.duration_s)
    assert run.tokens > 0 and wer(utterance.text, join_text(segments)) <= tolerances.MAX_WER_BATCHED_ONE_UTTERANCE


def test_upstream_whisper_jax_reports_why_it_is_unavailable(monkeypatch, tmp_path):
    """Without its side environment, whisper-jax says so and what to run (here: pointed at a missing Python)."""
    from asrperf import available_backends
    from asrperf.backends import load_pipeline
    from asrperf.backends.whisper_jax_upstream import PYTHON_ENV_VAR
    from asrperf.errors import BackendUnavailableError

    monkeypatch.setenv(PYTHON_ENV_VAR, str(tmp_path / "no-such-env" / "bin" / "python"))
    reason = available_backends()["whisper-jax"]
    assert reason is not None and "make whisper-jax-env" in reason and PYTHON_ENV_VAR in reason
    with pytest.raises(BackendUnavailableError, match="whisper-jax"):
        load_pipeline("whisper-jax", "tiny.en")
