"""Every backend: real transcription quality and the shared output contract."""

import numpy as np
import pytest

from asrperf.corpus import utterances
from asrperf.metrics import wer
from asrperf.segments import Segment, join_text

pytestmark = pytest.mark.cpu

# One per voice x speed combination: 12 of the 48 utterances keep the suite quick.
SUBSET = utterances()[::4]
BACKENDS = [("openai-whisper", None), ("jax", 1)]


@pytest.fixture(scope="module", params=BACKENDS, ids=[b for b, _ in BACKENDS])
def transcripts(request, pipeline):
    backend, batch = request.param
    pipe = pipeline(backend, "tiny.en", batch_size=batch)
    return pipe, [pipe.transcribe(u.path) for u in SUBSET]


def check_schema(segments, duration):
    assert isinstance(segments, list)
    for s in segments:
        assert isinstance(s, Segment)
        assert isinstance(s.start, float) and isinstance(s.end, float)
        assert 0.0 <= s.start <= s.end <= duration + 0.02
        assert s.text.strip()
    starts = [s.start for s in segments]
    assert starts == sorted(starts)


def test_tiny_en_wer_on_corpus(transcripts):
    pipe, outputs = transcripts
    score = wer([u.text for u in SUBSET], [join_text(o) for o in outputs])
    assert score <= 0.20, f"{pipe.backend_name}: WER {score:.3f}"


def test_segments_follow_the_contract(transcripts):
    _, outputs = transcripts
    for utterance, segments in zip(SUBSET, outputs):
        assert segments, f"no speech found in {utterance.id}"
        check_schema(segments, utterance.duration_s)


def test_run_stats_and_description(transcripts):
    pipe, _ = transcripts
    stats = pipe.last_run
    assert stats.audio_s == pytest.approx(SUBSET[-1].duration_s, abs=1e-3)
    assert stats.windows >= 1 and stats.tokens > 0 and stats.max_length_hits == 0
    info = pipe.describe()
    assert info["backend"] == pipe.backend_name and info["model"] == "tiny.en"
    assert info["decoding"].startswith("greedy t=0.0 beam=1 fallback=none prev_text=off")


def test_empty_audio_gives_no_segments(transcripts):
    pipe, _ = transcripts
    assert pipe.transcribe(np.zeros(0, np.float32)) == []
