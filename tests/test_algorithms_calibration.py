"""Same algorithm, same words, over the long inputs: a calibration run (make test), not the laptop check.

jax and openai-whisper running openai-whisper's sequential seek and whisper-jax's chunks, on 5
minutes of composed speech and on the whole corpus (real speech where present); the one-minute
version of the same check runs under `-m cpu` (tests/test_algorithms.py). Also upstream whisper-jax
against asrperf's jax on the 5 minutes, batch 8 (a composed minute runs under `-m cpu`:
tests/test_whisper_jax_upstream.py).
"""

import pytest

from asrperf import tolerances
from asrperf.bench.audio_cases import audio_case
from asrperf.metrics import wer
from asrperf.segments import join_text

from .corpus_runs import agreement_utterances
from .test_algorithms import CORPUS_RUNS, RUNS, agreement_name
from .test_whisper_jax_upstream import agree_with_the_jax_backend, probe

pytestmark = pytest.mark.calibration


@pytest.fixture(scope="module")
def five_minutes(pipeline):
    """(run → transcript, run → windows decoded) on the 5-minute composed audio."""
    audio = audio_case("5min")
    texts, windows = {}, {}
    for run, settings in RUNS.items():
        pipe = pipeline(**settings)
        result = pipe.run(audio.samples)
        texts[run], windows[run] = join_text(result.segments), result.windows
        assert pipe.describe()["longform"] == run[1]
    return texts, windows


@pytest.fixture(scope="module")
def corpus_texts(pipeline, corpus_transcripts, real_corpus):
    items = agreement_utterances(real_corpus)
    texts = {}
    for run, settings in CORPUS_RUNS.items():
        if name := agreement_name(settings):
            texts[run] = corpus_transcripts(name)
        else:
            pipe = pipeline(**settings)
            texts[run] = [join_text(pipe.transcribe(u.path)) for u in items]
    return texts


@pytest.mark.parametrize("algorithm", ["sequential", "chunked"])
def test_frameworks_agree_on_five_minutes(five_minutes, algorithm):
    texts, windows = five_minutes
    torch_text, jax_text = texts[("openai-whisper", algorithm)], texts[("jax", algorithm)]
    assert wer(torch_text, jax_text) <= tolerances.MAX_SAME_ALGORITHM_PAIRWISE_WER, (algorithm, torch_text, jax_text)
    # The same algorithm decodes the same windows: sequential seeks to the same timestamps
    # (about 10 windows for 5 min), chunked plans 15 overlapping ones.
    assert abs(windows[("jax", algorithm)] - windows[("openai-whisper", algorithm)]) <= 1, windows


def test_the_algorithms_differ(five_minutes):
    """Chunked decodes more windows than sequential: the rows really ran different algorithms."""
    _, windows = five_minutes
    assert windows[("jax", "chunked")] == windows[("openai-whisper", "chunked")] == 15
    assert windows[("jax", "sequential")] < 15


@pytest.mark.parametrize("algorithm", ["sequential", "chunked"])
def test_frameworks_agree_on_the_corpus(corpus_texts, algorithm):
    torch_texts, jax_texts = corpus_texts[("openai-whisper", algorithm)], corpus_texts[("jax", algorithm)]
    assert wer(torch_texts, jax_texts) <= tolerances.MAX_SAME_ALGORITHM_PAIRWISE_WER


def test_whisper_jax_agrees_with_the_jax_backend_on_five_minutes_batched(pipeline):
    """Upstream whisper-jax and asrperf's jax, same weights, same (chunked) algorithm, on 5 composed minutes
    at batch 8 (14 seams), where the tolerance was calibrated; a minute runs under -m cpu
    (tests/test_whisper_jax_upstream.py)."""
    if reason := probe():
        pytest.skip(f"whisper-jax unavailable: {reason}")
    scores = agree_with_the_jax_backend(pipeline, "5min", 8)
    assert abs(scores["whisper-jax"] - scores["jax"]) <= tolerances.MAX_WER_DELTA_WHISPER_JAX_VS_JAX, scores
