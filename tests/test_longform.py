"""The chunk plan and the seam merge, on synthetic word streams with known truth."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asrperf.longform import SAMPLE_RATE, merge_chunks, plan_chunks
from asrperf.segments import Segment

pytestmark = pytest.mark.cpu


@given(st.integers(1, 3600 * SAMPLE_RATE))
def test_chunks_cover_audio_with_owned_parts_tiling_it(n):
    chunks = plan_chunks(n)
    assert chunks[0].start == 0 and chunks[-1].end == n
    assert chunks[0].left_stride == 0 and chunks[-1].right_stride == 0
    owned_edges = [(c.start + c.left_stride, c.end - c.right_stride) for c in chunks]
    for (_, end), (start, _) in zip(owned_edges, owned_edges[1:]):
        assert end == start  # owned parts tile the audio: no gap, no double cover
    for c in chunks:
        assert c.end - c.start <= 30 * SAMPLE_RATE


VOCAB = [f"w{i}" for i in range(40)]


@st.composite
def word_stream(draw):
    """A 'true' transcript: words at increasing times, grouped into segments."""
    count = draw(st.integers(1, 140))
    words, t = [], 0.2
    for _ in range(count):
        t += draw(st.floats(0.25, 1.2))
        words.append((draw(st.sampled_from(VOCAB)), t))
    return words


def chunk_view(words, chunk, segment_len):
    """What a perfect model would say for one chunk: the words inside it, in segments."""
    start, end = chunk.start / SAMPLE_RATE, chunk.end / SAMPLE_RATE
    inside = [(w, t) for w, t in words if start + 0.3 <= t < end - 0.3]
    segments = []
    for i in range(0, len(inside), segment_len):
        group = inside[i : i + segment_len]
        segments.append(Segment(group[0][1] - 0.1, group[-1][1] + 0.1, " ".join(w for w, _ in group)))
    return segments


@given(word_stream(), st.integers(1, 6))
def test_merge_recovers_every_word_once(words, segment_len):
    duration = words[-1][1] + 1.0
    chunks = plan_chunks(int(duration * SAMPLE_RATE))
    outputs = [chunk_view(words, c, segment_len) for c in chunks]
    merged = merge_chunks(chunks, outputs, duration)
    assert " ".join(s.text for s in merged).split() == [w for w, _ in words]
    for a, b in zip(merged, merged[1:]):
        assert a.start <= a.end <= b.start <= b.end


def test_merge_without_common_words_cuts_at_the_seam():
    chunks = plan_chunks(50 * SAMPLE_RATE)
    left = [Segment(20.0, 22.0, "alpha beta"), Segment(26.0, 29.0, "gamma")]
    right = [Segment(21.0, 23.0, "delta"), Segment(27.0, 28.0, "epsilon")]
    merged = merge_chunks(chunks, [left, right], 50.0)
    assert " ".join(s.text for s in merged) == "alpha beta epsilon"


@given(word_stream(), st.integers(1, 6))
def test_merge_ignores_garbled_words_at_chunk_edges(words, segment_len):
    """Words cut by a chunk edge come out wrong; they lie in the stride and must not survive."""
    duration = words[-1][1] + 1.0
    chunks = plan_chunks(int(duration * SAMPLE_RATE))
    outputs = []
    for chunk in chunks:
        start, end = chunk.start / SAMPLE_RATE, chunk.end / SAMPLE_RATE
        noisy = [
            ("garbled" if (chunk.left_stride and t < start + 1.0) or (chunk.right_stride and t > end - 1.0) else w, t)
            for w, t in words
        ]
        outputs.append(chunk_view(noisy, chunk, segment_len))
    merged = merge_chunks(chunks, outputs, duration)
    assert " ".join(s.text for s in merged).split() == [w for w, _ in words]
