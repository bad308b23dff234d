"""Both long-form algorithms on both frameworks: same algorithm, same words.

jax and openai-whisper run openai-whisper's sequential seek and whisper-jax's chunks; at a
fixed algorithm their transcripts must agree: here on about a minute (several seeks, three
chunks), and on 5 minutes and the whole corpus in tests/test_algorithms_calibration.py.
"""

import numpy as np
import pytest

from asrperf import tolerances
from asrperf.backends import make_config
from asrperf.bench.audio_cases import audio_case
from asrperf.errors import ConfigurationError
from asrperf.metrics import wer
from asrperf.segments import join_text
from asrperf.sequential import N_FRAMES, seek_loop, window_segments

from .corpus_runs import AGREEMENT_BACKENDS

pytestmark = pytest.mark.cpu

# The chunked rows' batch size is the benchmark's; on single-window utterances the batch changes nothing.
RUNS = {
    ("openai-whisper", "sequential"): dict(backend="openai-whisper", longform="sequential"),
    ("jax", "sequential"): dict(backend="jax", longform="sequential"),
    ("openai-whisper", "chunked"): dict(backend="openai-whisper", longform="chunked", batch_size=8),
    ("jax", "chunked"): dict(backend="jax", longform="chunked", batch_size=8),
}
# Every corpus utterance is one window, so there the batch size changes nothing: jax's batch 1
# is test_agreement's configuration, whose transcripts are then reused.
CORPUS_RUNS = {**RUNS, ("jax", "chunked"): dict(backend="jax", longform="chunked", batch_size=1)}


def agreement_name(settings: dict) -> str | None:
    """test_agreement's name for the same pipeline configuration, if it has one."""
    config = make_config(**settings)
    return next((name for name, theirs in AGREEMENT_BACKENDS.items() if make_config(**theirs) == config), None)


@pytest.fixture(scope="module")
def one_minute(pipeline, real_corpus):
    """run → (transcript, Run) on about a minute of speech: real where a corpus is in use."""
    audio = audio_case("real-1min" if real_corpus is not None else "1min",
                       None if real_corpus is None else real_corpus.directory)
    results = {}
    for run, settings in RUNS.items():
        pipe = pipeline(**settings)
        result = pipe.run(audio.samples)
        results[run] = (join_text(result.segments), result)
        assert pipe.describe()["longform"] == run[1]
    return results


@pytest.mark.parametrize("algorithm", ["sequential", "chunked"])
def test_frameworks_agree_on_a_minute(one_minute, algorithm):
    """The frameworks at one algorithm: the same words, windows and token count (rounding may flip a token)."""
    (torch_text, torch_run), (jax_text, jax_run) = one_minute[("openai-whisper", algorithm)], one_minute[("jax", algorithm)]
    assert jax_run.windows == torch_run.windows, (jax_run.windows, torch_run.windows)
    if jax_text != torch_text:  # where float rounding flipped a token on this CPU
        assert wer(torch_text, jax_text) <= tolerances.MAX_SAME_ALGORITHM_PAIRWISE_WER_SHORT, (torch_text, jax_text)
    assert abs(jax_run.tokens - torch_run.tokens) <= max(1, 0.01 * torch_run.tokens), (jax_run.tokens, torch_run.tokens)


# ---------------------------------------------------------------- the seek loop, framework-free

TS = 1000  # timestamp_begin in these synthetic token streams; text tokens are below it


def ts(seconds: float) -> int:
    return TS + round(seconds / 0.02)


def test_seek_drops_the_unfinished_segment_and_seeks_to_its_start():
    tokens = [ts(0), 1, 2, ts(4), ts(4), 3, ts(9.5), ts(9.5), 4, 5]  # the last segment is cut off
    segments, advance = window_segments(tokens, TS, seek=500, window_frames=N_FRAMES)
    assert [(s.start, s.end, s.tokens) for s in segments] == [
        (5.0, 9.0, (ts(0), 1, 2, ts(4))), (9.0, 14.5, (ts(4), 3, ts(9.5)))]
    assert advance == 950  # 9.5 s in frames of 10 ms


def test_seek_takes_the_whole_window_after_a_closing_timestamp():
    tokens = [ts(0), 1, ts(3), ts(3), 2, ts(7)]  # ends with a lone timestamp: nothing after it
    segments, advance = window_segments(tokens, TS, seek=0, window_frames=2400)
    assert [(s.start, s.end) for s in segments] == [(0.0, 3.0), (3.0, 7.0)]
    assert advance == 2400


def test_seek_without_timestamp_pairs_is_one_segment_to_the_last_timestamp():
    segments, advance = window_segments([ts(0.5), 1, 2, ts(6)], TS, seek=0, window_frames=N_FRAMES)
    assert [(s.start, s.end) for s in segments] == [(0.0, 6.0)] and advance == N_FRAMES
    segments, advance = window_segments([1, 2], TS, seek=100, window_frames=1200)
    assert [(s.start, s.end) for s in segments] == [(1.0, 13.0)] and advance == 1200


def test_seek_loop_covers_the_audio_and_stops():
    calls = []

    def decode(seek, frames):
        calls.append((seek, frames))
        return [ts(0), 1, ts(10), ts(10), 2]  # always: one segment, then a cut-off one

    _, windows = seek_loop(4500, decode, TS)
    assert calls == [(0, 3000), (1000, 3000), (2000, 2500), (3000, 1500), (4000, 500)] and windows == 5


# ---------------------------------------------------------------- the whole-audio log-mel

def test_whole_audio_log_mel_matches_openai_whisper():
    """jax sequential normalises by the whole audio's maximum and zero-pads the last window, as openai-whisper."""
    import jax
    import torch
    import whisper

    from asrperf.backends.jax_whisper import model, whole_mel

    from asrperf.corpus import utterances

    quiet, loud = utterances()[0].samples(), utterances()[5].samples()
    # The loud part, late, sets the maximum for the quiet one; silence between takes the floor.
    samples = np.concatenate([0.1 * quiet, np.zeros(16_000 * 31), loud, np.zeros(123)]).astype(np.float32)
    expected = whisper.log_mel_spectrogram(torch.from_numpy(samples), 80, padding=whisper.audio.N_SAMPLES)
    expected = expected[:, : len(samples) // 160].numpy()
    filters = jax.numpy.asarray(model.mel_filters(80))
    blocks, frames = whole_mel.blocks(samples)
    raw = [np.asarray(jax.jit(whole_mel.raw_log_mel)(blocks[b : b + 1], filters))[0] for b in range(len(blocks))]
    ours = whole_mel.normalise(raw, frames)
    assert ours.shape == expected.shape
    assert np.abs(ours - expected).max() < tolerances.MAX_LOG_MEL_ABS_ERROR


# ---------------------------------------------------------------- configuration

def test_unknown_longform_names_the_choices():
    with pytest.raises(ConfigurationError, match="sequential.*chunked"):
        make_config("jax", longform="streaming")


def test_a_backend_says_which_algorithms_it_supports():
    with pytest.raises(ConfigurationError, match="transformers.*'chunked'"):
        make_config("transformers", longform="sequential")


@pytest.mark.parametrize("backend", ["openai-whisper", "jax"])
def test_sequential_refuses_a_batch(backend):
    from asrperf.backends import load_pipeline

    with pytest.raises(ConfigurationError, match="longform='chunked'"):
        load_pipeline(backend, batch_size=8, longform="sequential")


def test_native_algorithms():
    assert make_config("openai-whisper").longform == "sequential"
    assert make_config("jax", batch_size=8).longform == "chunked"
    assert make_config("faster-whisper").longform == "sequential"
    assert make_config("faster-whisper", batch_size=8).longform == "chunked"
    assert make_config("transformers", batch_size=8).longform == "chunked"
    # Naming the native algorithm gives the same configuration, so the same shared pipeline.
    assert make_config("openai-whisper", longform="sequential") == make_config("openai-whisper")
