"""Do the implementations still agree? WER against the reference and between each other."""

import itertools

import pytest

from asrperf import tolerances
from asrperf.metrics import wer

from .corpus_runs import AGREEMENT_BACKENDS, AGREEMENT_SUBSET

pytestmark = pytest.mark.cpu
REFERENCES = [u.text for u in AGREEMENT_SUBSET]


@pytest.fixture(scope="module")
def texts(corpus_transcripts):
    return {name: corpus_transcripts(name) for name in AGREEMENT_BACKENDS}


def test_reference_backend_is_sane(texts):
    assert wer(REFERENCES, texts[tolerances.REFERENCE_BACKEND]) <= tolerances.MAX_WER


@pytest.mark.parametrize("name", [n for n in AGREEMENT_BACKENDS if n != tolerances.REFERENCE_BACKEND])
def test_each_backend_tracks_the_reference(texts, name):
    ours, reference = wer(REFERENCES, texts[name]), wer(REFERENCES, texts[tolerances.REFERENCE_BACKEND])
    assert ours <= tolerances.MAX_WER
    assert abs(ours - reference) <= tolerances.MAX_WER_DELTA_VS_REFERENCE, (ours, reference)
    assert tolerances.accuracy_ok(ours, reference), f"{name} drifted: WER {ours:.3f} vs {reference:.3f}"


@pytest.mark.parametrize("a,b", list(itertools.combinations(AGREEMENT_BACKENDS, 2)))
def test_pairwise_agreement(texts, a, b):
    assert wer(texts[a], texts[b]) <= tolerances.MAX_PAIRWISE_WER
    for utterance, x, y in zip(AGREEMENT_SUBSET, texts[a], texts[b]):
        assert wer(x, y) <= tolerances.MAX_PAIRWISE_WER_PER_UTTERANCE, (utterance.id, x, y)


def test_accuracy_gate_catches_drift():
    assert tolerances.accuracy_ok(0.16, 0.1676)
    assert not tolerances.accuracy_ok(0.20, 0.1676)
