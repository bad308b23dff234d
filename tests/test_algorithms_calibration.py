"""Same algorithm, same words, over the long inputs: a calibration run (make test), not the laptop check.

jax and openai-whisper running openai-whisper's sequential seek and whisper-jax's chunks, on 5
minutes of composed speech (on the whole corpus: tests/test_agreement.py, beside the corpus runs it
shares); the one-minute version of the same check runs under `-m cpu` (tests/test_algorithms.py). Also upstream whisper-jax
against asrperf's jax on the 5 minutes, batch 8, where that tolerance was calibrated.
"""

import pytest

from asrperf import tolerances
from asrperf.bench.audio_cases import audio_case
from asrperf.longform import plan_chunks
from asrperf.metrics import wer
from asrperf.segments import join_text

from .test_algorithms import RUNS
from .test_whisper_jax_upstream import probe

pytestmark = pytest.mark.calibration


@pytest.fixture(scope="module")
def five_minutes(pipeline):
    """run → (transcript, Run) on the 5-minute composed audio."""
    audio = audio_case("5min")
    results = {}
    for run, settings in RUNS.items():
        pipe = pipeline(**settings)
        result = pipe.run(audio.samples)
        results[run] = (join_text(result.segments), result)
        assert pipe.describe()["longform"] == run[1]
    return results


@pytest.mark.parametrize("algorithm", ["sequential", "chunked"])
def test_frameworks_agree_on_five_minutes(five_minutes, algorithm):
    (torch_text, torch_run), (jax_text, jax_run) = five_minutes[("openai-whisper", algorithm)], five_minutes[("jax", algorithm)]
    assert wer(torch_text, jax_text) <= tolerances.MAX_SAME_ALGORITHM_PAIRWISE_WER, (algorithm, torch_text, jax_text)
    # The same algorithm decodes the same windows: sequential seeks to the same timestamps
    # (about 10 windows for 5 min), chunked plans 15 overlapping ones.
    assert abs(jax_run.windows - torch_run.windows) <= 1, (jax_run.windows, torch_run.windows)


def test_the_algorithms_differ(five_minutes):
    """Chunked decodes more windows than sequential: the rows really ran different algorithms."""
    windows = {run: result.windows for run, (_, result) in five_minutes.items()}
    assert windows[("jax", "chunked")] == windows[("openai-whisper", "chunked")] == 15
    assert windows[("jax", "sequential")] < 15


def test_whisper_jax_agrees_with_the_jax_backend_on_five_minutes_batched(pipeline, five_minutes):
    """Upstream whisper-jax and asrperf's jax, same weights, same (chunked) algorithm, on 5 composed minutes
    at batch 8 (14 seams), where the tolerance was calibrated. jax's run is the fixture's: its chunked
    pipeline is batch 8 too."""
    if reason := probe():
        pytest.skip(f"whisper-jax unavailable: {reason}")
    audio = audio_case("5min")
    upstream = pipeline("whisper-jax", "tiny.en", batch_size=8).run(audio.samples)
    ours = five_minutes[("jax", "chunked")][1]
    assert RUNS[("jax", "chunked")]["batch_size"] == 8
    scores = {}
    for backend, run in (("whisper-jax", upstream), ("jax", ours)):
        scores[backend] = wer(audio.reference, join_text(run.segments))
        assert run.max_length_hits == 0
        assert run.windows == len(plan_chunks(len(audio.samples))), (backend, run.windows)
    assert abs(scores["whisper-jax"] - scores["jax"]) <= tolerances.MAX_WER_DELTA_WHISPER_JAX_VS_JAX, scores
