"""The jax pipeline over two processes (jax.distributed on 127.0.0.1): the same text as one process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from asrperf.audio import write_wav
from asrperf.corpus import compose, utterances
from asrperf.errors import ConfigurationError
from asrperf.segments import Segment, join_text

pytestmark = pytest.mark.cpu
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Two utterances and 45 s of speech (three chunks): windows of several files share batches."""
    directory = tmp_path_factory.mktemp("distributed")
    long_path = directory / "long.wav"
    write_wav(long_path, compose(45.0, seed=5).samples)
    return [str(u.path) for u in utterances()[:2]] + [str(long_path)]


def run_two_processes(files_of) -> list[tuple[int, str, str]]:
    """``asrperf transcribe`` as processes 0 and 1 of 2 on 127.0.0.1: (exit status, stdout, stderr) each."""
    port = free_port()
    command = [sys.executable, "-m", "asrperf.cli", "transcribe", "--backend", "jax", "--batch-size", "2",
               "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--distributed-timeout", "60", "--json"]
    # One CPU device per process, as on one CPU host each.
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": ""}
    processes = [subprocess.Popen([*command, "--process-id", str(i), *files_of(i)], cwd=ROOT, env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(2)]
    try:
        outputs = [p.communicate(timeout=300) for p in processes]
    finally:
        for p in processes:
            p.kill()
    return [(p.returncode, out, err) for p, (out, err) in zip(processes, outputs)]


@pytest.mark.processes
def test_two_processes_give_the_single_process_text(pipeline, files):
    runs = run_two_processes(lambda process: files)
    for returncode, _, err in runs:
        assert returncode == 0, err[-3000:]
    leader, follower = (json.loads(out) if out.strip() else None for _, out, _ in runs)
    assert follower is None, "only process 0 prints the segments"
    assert leader["job"]["jax_processes"] == 2 and leader["job"]["jax_devices"] == 2
    assert leader["job"]["effective_batch"] == 2

    # One process, one device, one row per device as in each of the two: the same program per row.
    single = pipeline("jax", batch_size=1).transcribe_many(files)
    texts = [" ".join(segment["text"] for segment in r["segments"]) for r in leader["results"]]
    assert texts == [join_text(segments) for segments in single]
    assert all(texts)
    # Same tokens, so the same times too.
    assert [[Segment.from_dict(s) for s in r["segments"]] for r in leader["results"]] == single


@pytest.mark.processes
def test_processes_given_different_audio_all_stop_with_the_reason(files):
    # Without the check, process 1 (one file fewer) would finish early and leave process 0 waiting.
    runs = run_two_processes(lambda process: files if process == 0 else files[:2])
    for returncode, out, err in runs:
        assert returncode == 2 and not out.strip(), err[-3000:]
        assert "do not hold the same audio" in err and "Traceback" not in err


def test_bad_distributed_arguments_are_named():
    from asrperf.distributed import initialize

    with pytest.raises(ConfigurationError, match="HOST:PORT"):
        initialize("localhost", 2, 0)
    with pytest.raises(ConfigurationError, match="process id must be in 0..1"):
        initialize("127.0.0.1:1234", 2, 2)


def test_only_the_jax_backend_runs_over_processes():
    out = subprocess.run([sys.executable, "-m", "asrperf.cli", "transcribe", "--backend", "openai-whisper",
                          "--coordinator", "127.0.0.1:1", "--num-processes", "2", "x.wav"],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2 and "use --backend jax" in out.stderr and "Traceback" not in out.stderr
