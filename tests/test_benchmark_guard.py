"""No fast wrong answer: a benchmark row whose backend is broken fails; it never passes or skips."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.cpu
ROOT = Path(__file__).resolve().parents[1]


def run_benchmarks(broken: str, *selection: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pytest", "benchmarks", "-p", "tests.broken_backends", "-p", "no:cacheprovider",
               "--asrperf-rounds", "3", "--asrperf-cold-rounds", "1", "-q", *selection]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "ASRPERF_BROKEN": broken})


@pytest.mark.parametrize("broken", ["empty", "garbage"])
@pytest.mark.parametrize("row", ["test_warm and utt", "test_corpus and bnone"])
def test_fast_wrong_transcript_fails_its_row(broken, row):
    out = run_benchmarks(broken, "--asrperf-backend", "openai-whisper", "-k", row)
    assert out.returncode == 1, out.stdout[-3000:]
    assert "1 failed" in out.stdout and "skipped" not in out.stdout, out.stdout[-3000:]
    assert "transcribed wrongly: WER" in out.stdout


def test_losing_a_tenth_of_the_audio_fails_its_row(real_corpus):
    """Per-row limits: a tenth of the words gone is caught, where one ceiling per audio case let it pass.

    On the real minute (jax chunked calibrated at WER 0.008 there, the ceiling 0.20) where a corpus is in
    use, else on the five composed minutes (calibrated 0.103, the ceiling 0.30): both rows are calibrated."""
    audio, corpus = ("real-1min", str(real_corpus.directory)) if real_corpus is not None else ("5min", "none")
    out = run_benchmarks("lost-window", "--asrperf-preset", "full", "--asrperf-device", "cpu", "--asrperf-backend",
                         "jax", "--asrperf-model", "tiny.en", "--asrperf-audio", audio, "--asrperf-dtype", "float32",
                         "--asrperf-batch-size", "8", "--asrperf-longform", "chunked", "--asrperf-corpus", corpus,
                         "-k", "test_warm")
    assert out.returncode == 1 and "1 failed" in out.stdout and "skipped" not in out.stdout, out.stdout[-3000:]
    assert "transcribed wrongly: WER" in out.stdout and "calibrated" in out.stdout


def test_a_bug_fails_the_row_instead_of_skipping():
    out = run_benchmarks("crash", "--asrperf-backend", "openai-whisper", "-k", "test_warm and utt")
    assert out.returncode == 1 and "1 failed" in out.stdout, out.stdout[-3000:]
    assert "a bug while building the pipeline" in out.stdout
