"""Do the implementations still agree? WER against the reference and between each other.

On real speech (``../shared/realspeech/ljspeech``, or ``--asrperf-corpus DIR``) when it is
there, else on the synthetic corpus; each with the limits calibrated on it (tolerances.py).
The same-algorithm check on the corpus is here too: it reuses the session's corpus runs, and
one module runs in one test worker (tests/conftest.py).
"""

import itertools

import pytest

from asrperf import tolerances
from asrperf.metrics import wer
from asrperf.segments import join_text

from .corpus_runs import AGREEMENT_BACKENDS, agreement_utterances
from .test_algorithms import CORPUS_RUNS, agreement_name
from .test_external_corpus import real_speech_with_limits

# Every backend over the whole corpus: a calibration run (make test), not the laptop check, which
# holds every backend to the per-utterance limits on the corpus's first clips (tests/test_external_corpus.py).
pytestmark = pytest.mark.calibration


@pytest.fixture(scope="module")
def items(real_corpus):
    return agreement_utterances(real_corpus)


@pytest.fixture(scope="module")
def limits(real_corpus):
    return tolerances.SYNTHETIC_AGREEMENT if real_corpus is None else tolerances.REAL_SPEECH_AGREEMENT


@pytest.fixture(scope="module")
def max_wer(real_corpus, limits):
    """The absolute WER limit, where one was calibrated on this corpus (None: a corpus of the user's own)."""
    if real_corpus is not None and real_corpus.name != tolerances.REAL_SPEECH_CORPUS:
        return None
    return limits.max_wer


@pytest.fixture(scope="module")
def texts(corpus_transcripts):
    return {name: corpus_transcripts(name) for name in AGREEMENT_BACKENDS}


def test_reference_backend_is_sane(texts, items, max_wer):
    if max_wer is None:
        pytest.skip(f"tolerances.py has no WER limit for this corpus (only {tolerances.REAL_SPEECH_CORPUS!r}); "
                    "the relative agreement tests still run")
    assert wer([u.text for u in items], texts[tolerances.REFERENCE_BACKEND]) <= max_wer


@pytest.mark.parametrize("name", [n for n in AGREEMENT_BACKENDS if n != tolerances.REFERENCE_BACKEND])
def test_each_backend_tracks_the_reference(texts, items, limits, max_wer, name):
    references = [u.text for u in items]
    ours, reference = wer(references, texts[name]), wer(references, texts[tolerances.REFERENCE_BACKEND])
    assert max_wer is None or ours <= max_wer, (name, ours)
    assert abs(ours - reference) <= limits.max_wer_delta_vs_reference, (ours, reference)
    assert tolerances.accuracy_ok(ours, reference), f"{name} drifted: WER {ours:.3f} vs {reference:.3f}"


@pytest.mark.parametrize("a,b", list(itertools.combinations(AGREEMENT_BACKENDS, 2)))
def test_pairwise_agreement(texts, items, limits, a, b):
    assert wer(texts[a], texts[b]) <= limits.max_pairwise_wer
    for utterance, x, y in zip(items, texts[a], texts[b]):
        assert wer(x, y) <= limits.max_pairwise_wer_per_utterance, (utterance.id, x, y)


def test_accuracy_gate_catches_drift():
    assert tolerances.accuracy_ok(0.16, 0.1676)
    assert not tolerances.accuracy_ok(0.20, 0.1676)


@pytest.mark.parametrize("name", list(AGREEMENT_BACKENDS))
def test_real_speech_wer_within_calibrated_limit(real_corpus, corpus_transcripts, pipeline, name):
    """The whole corpus, where the limits were calibrated (the laptop check runs its first clips:
    tests/test_external_corpus.py)."""
    real_speech_with_limits(real_corpus)
    texts = corpus_transcripts(name)  # skips when the backend cannot run here
    config = pipeline(model="tiny.en", **AGREEMENT_BACKENDS[name]).config  # the session's: no second build
    limit = tolerances.real_speech_max_wer(config.backend, config.longform)
    measured = wer([u.text for u in agreement_utterances(real_corpus)], texts)
    assert measured <= limit, f"{name}: corpus WER {measured:.3f} on real speech, calibrated limit {limit}"


@pytest.fixture(scope="module")
def corpus_texts(pipeline, corpus_transcripts, real_corpus):
    """(framework, algorithm) → transcripts of the corpus; the agreement runs where the configuration is theirs."""
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
def test_frameworks_agree_on_the_corpus(corpus_texts, algorithm):
    torch_texts, jax_texts = corpus_texts[("openai-whisper", algorithm)], corpus_texts[("jax", algorithm)]
    assert wer(torch_texts, jax_texts) <= tolerances.MAX_SAME_ALGORITHM_PAIRWISE_WER
