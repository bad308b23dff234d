import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asrperf.audio import SAMPLE_RATE, load_audio
from asrperf.corpus import compose, manifest, utterances
from asrperf.errors import ConfigurationError

pytestmark = pytest.mark.cpu


def test_manifest_matches_files():
    items = utterances()
    assert len(items) >= 40
    assert len({u.voice for u in items}) >= 3 and len({u.speed for u in items}) >= 2
    assert manifest()["espeak_ng_version"]
    for u in items:
        assert hashlib.sha256(u.path.read_bytes()).hexdigest() == u.sha256, u.id
        assert abs(len(load_audio(u.path)) / SAMPLE_RATE - u.duration_s) < 1e-3
        assert u.text.strip() and u.text == u.text.strip()


@settings(max_examples=10)
@given(seconds=st.floats(5, 200), seed=st.integers(0, 2**16))
def test_compose_is_exact_and_deterministic(seconds, seed):
    first = compose(seconds, seed=seed)
    assert len(first.samples) == int(round(seconds * SAMPLE_RATE))
    again = compose(seconds, seed=seed)
    assert np.array_equal(first.samples, again.samples) and first.reference == again.reference
    by_id = {u.id: u for u in utterances()}
    assert first.reference == " ".join(by_id[i].text for i, _, _ in first.pieces)
    ends = [0.0]
    for utt_id, start, end in first.pieces:
        assert start >= ends[-1] and end <= first.duration_s + 1e-6
        segment = first.samples[int(round(start * SAMPLE_RATE)) : int(round(end * SAMPLE_RATE))]
        assert np.array_equal(segment, by_id[utt_id].samples())
        ends.append(end)


def test_compose_rejects_impossible_lengths():
    with pytest.raises(ConfigurationError, match="at least"):
        compose(0.5)
    with pytest.raises(ConfigurationError):
        compose(float("nan"))
