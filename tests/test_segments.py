import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asrperf.segments import Segment, join_text, make_segment, segments_from_chunks

pytestmark = pytest.mark.cpu

times = st.floats(0, 1e5, allow_nan=False)


def test_segment_is_frozen():
    segment = Segment(0.0, 1.0, "hi")
    with pytest.raises(dataclasses.FrozenInstanceError):
        segment.text = "changed"


@given(times, times, st.text())
def test_dict_form_round_trips(a, b, text):
    segment = Segment(min(a, b), max(a, b), text)
    as_dict = segment.to_dict()
    assert set(as_dict) == {"timestamp", "text"} and as_dict["timestamp"] == (segment.start, segment.end)
    assert Segment.from_dict(as_dict) == segment


@given(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
       st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
       st.text(), st.floats(0, 1e4))
def test_make_segment_always_valid(start, end, text, duration):
    segment = make_segment(start, end, text, fallback_end=duration)
    assert math.isfinite(segment.start) and math.isfinite(segment.end)
    assert 0 <= segment.start <= segment.end
    assert segment.text == text.strip()
    if end is None and (start is None or (math.isfinite(start) and start <= duration)):
        assert segment.end == round(max(segment.start, duration), 3)


def test_open_end_closed_at_duration():
    # whisper-jax leaves the last chunk's end as None
    assert make_segment(3.2, None, " tail ", fallback_end=9.5) == Segment(3.2, 9.5, "tail")
    assert join_text([Segment(0, 1, "a"), Segment(1, 2, ""), Segment(2, 3, "b")]) == "a b"


chunk = st.fixed_dictionaries({
    "timestamp": st.tuples(st.one_of(st.none(), st.floats(0, 100)), st.one_of(st.none(), st.floats(0, 100))),
    "text": st.text(max_size=20),
})


@given(st.lists(chunk, max_size=12), st.floats(0.1, 200))
def test_whisper_jax_chunks_normalise_to_valid_segments(chunks, duration):
    segments = segments_from_chunks(chunks, duration)
    assert [s.text for s in segments] == [c["text"].strip() for c in chunks if c["text"].strip()]
    for s in segments:
        assert 0 <= s.start <= s.end
    assert [s.start for s in segments] == sorted(s.start for s in segments)
    if chunks and chunks[-1]["text"].strip() and chunks[-1]["timestamp"][1] is None:
        assert segments[-1].end >= min(duration, segments[-1].end)
