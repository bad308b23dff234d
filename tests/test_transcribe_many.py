"""Many files in one job: windows of several files share batches, and no file's output changes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from asrperf.errors import ConfigurationError
from asrperf.file_batches import transcribe_in_batches
from asrperf.longform import SAMPLE_RATE, plan_chunks

pytestmark = pytest.mark.cpu

# Whisper's window is 30 s; 70 s makes a file of four chunks (30 s every 20 s).
MIN_S, MAX_S = 0.1, 70.0


@pytest.fixture(scope="module")
def speech():
    """70 s of composed speech; files are cut from it at different offsets."""
    from asrperf.corpus import compose

    return compose(MAX_S + 10.0, seed=3).samples


def cut(speech: np.ndarray, offset: float, length_s: float) -> np.ndarray:
    n = max(1, int(length_s * SAMPLE_RATE))
    start = int(offset * (len(speech) - n))
    return speech[start : start + n]


# The scheduler alone, with a stand-in decoder whose output names the window it was given.
@settings(max_examples=200)
@given(lengths=st.lists(st.integers(0, int(MAX_S * SAMPLE_RATE)), min_size=0, max_size=12),
       batch_size=st.integers(1, 8))
def test_windows_fill_batches_in_order_and_return_to_their_files(lengths, batch_size):
    # Each sample says which file it is from and where it sits: file * 2^24 + position (exact in float64).
    files = [index * 2.0**24 + np.arange(n, dtype=np.float64) for index, n in enumerate(lengths)]
    calls: list[list[tuple[int, int, int]]] = []

    def where(window) -> tuple[int, int]:
        return int(window[0] // 2**24), int(window[0] % 2**24)

    def decode(windows):
        calls.append([(*where(w), len(w)) for w in windows])
        return [[(0.0, len(w) / SAMPLE_RATE, f"file{where(w)[0]}at{where(w)[1]}len{len(w)}")] for w in windows]

    done: list[int] = []
    together = transcribe_in_batches(files, batch_size, decode, done.append)

    expected_windows = [(i, c.start, c.end - c.start) for i, n in enumerate(lengths) if n for c in plan_chunks(n)]
    assert [w for call in calls for w in call] == expected_windows  # every window once, in file order
    assert all(len(call) == batch_size for call in calls[:-1])  # every batch but the last is full
    assert done == list(range(len(files)))
    for index, samples in enumerate(files):
        alone = transcribe_in_batches([samples], batch_size, decode)[0]
        assert together[index] == alone
        assert all(s.text.startswith(f"file{index}at") for s in together[index])
        assert (together[index] == []) == (len(samples) == 0)


def test_a_wrong_number_of_outputs_is_caught():
    with pytest.raises(RuntimeError, match="2 outputs for 1 windows"):
        transcribe_in_batches([np.zeros(1000, np.float32)], 4, lambda windows: [[], []])


def test_one_file_passed_where_a_list_is_expected_says_so(pipeline, tone):
    pipe = pipeline("jax", batch_size=8)
    for wrong in ("a.wav", tone):
        with pytest.raises(ConfigurationError, match="for one input call transcribe"):
            pipe.transcribe_many(wrong)


# The jax backend, token for token: each file's sampled tokens in transcribe_many are those of
# transcribe() alone, whichever row and batch its windows land in.
# Batch sizes: the session's two shared jax pipelines (batch 1: tests/corpus_runs.py's; batch 8:
# tests/test_algorithms.py's chunked row), so no example builds or
# compiles a pipeline of its own. Batch 8 compiles its buckets 1, 2, 4 and 8 (asrperf.batch_buckets)
# once a session, so its examples run every decoder batch from 1 to 8 rows; at batch 1 every window
# is its own batch, so each file of more than one window is split across batches. The scheduler's
# own property over every batch size 1-8 is the stand-in test above (200 examples).
# Files up to 36 s (two chunks) here, not 70 s: every case the scheduler meets (a file alone, split
# across batches, sharing a batch) with less audio to decode, twice per example.
MODEL_MAX_S = 36.0
file_specs = st.lists(st.tuples(st.floats(0.0, 1.0), st.floats(MIN_S, MODEL_MAX_S)), min_size=1, max_size=3)


@settings(max_examples=3, deadline=None)
@given(specs=file_specs, batch_size=st.sampled_from((1, 8)))
@example(specs=[(0.0, MIN_S), (0.5, MODEL_MAX_S)], batch_size=8)  # shortest and longest, one batch
@example(specs=[(0.2, 25.0), (0.9, MODEL_MAX_S), (0.4, 3.0)], batch_size=1)  # a file split across batches
def test_jax_files_together_decode_the_same_tokens_as_alone(pipeline, speech, specs, batch_size):
    from asrperf import token_rules

    pipe = pipeline("jax", batch_size=batch_size)
    files = [cut(speech, offset, length) for offset, length in specs]
    sampled: list[list[int]] = []
    original = token_rules.split_segments

    def recording_split(tokens, *args):
        sampled.append([int(t) for t in tokens])
        return original(tokens, *args)

    with pytest.MonkeyPatch.context() as patch:  # per example: hypothesis reuses function-scoped fixtures
        patch.setattr(token_rules, "split_segments", recording_split)
        alone = [pipe.transcribe(samples) for samples in files]
        tokens_alone, sampled[:] = list(sampled), []
        job = pipe.run_many(files)
    assert sampled == tokens_alone
    assert job.segments == alone
    assert job.windows == sum(len(plan_chunks(len(f))) for f in files)
    assert job.audio_s == pytest.approx(sum(len(f) for f in files) / SAMPLE_RATE)


@pytest.mark.parametrize("backend,options", [
    ("openai-whisper", {"longform": "chunked", "batch_size": 8}),  # tests/test_algorithms.py's pipeline
    ("transformers", {"batch_size": 4}),
    # Backends without a cross-file batch loop over the files: same answer, and describe() says so.
    ("faster-whisper", {}),
    ("jax", {"longform": "sequential"}),
])
def test_every_backend_gives_each_file_its_own_output(pipeline, speech, backend, options):
    pipe = pipeline(backend, **options)
    crosses = backend in ("openai-whisper", "transformers")
    # A file of two windows where windows of several files share a batch; a loop over files needs no long one.
    files = [cut(speech, 0.1, 4.0), cut(speech, 0.6, 36.0 if crosses else 12.0), np.zeros(0, np.float32),
             cut(speech, 0.9, 9.0)]
    alone = [pipe.transcribe(samples) for samples in files]
    assert pipe.transcribe_many(files) == alone
    assert alone[2] == [] and all(alone[i] for i in (0, 1, 3))
    assert pipe.transcribe_many([]) == []
    silent = pipe.run_many([files[2], files[2]])
    assert silent.segments == [[], []] and silent.audio_s == 0 and silent.windows == 0
    assert pipe.batches_across_files is crosses
    assert pipe.describe()["many_files"] == ("windows of several files share each batch" if crosses
                                             else "one file after another")
