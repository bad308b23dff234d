"""No fast wrong answer: a benchmark row whose backend is broken fails; it never passes or skips.

One pytest session of the benchmarks runs every broken row below (``tests/broken_backends.py`` breaks
each backend its own way), and each test reads its row's outcome from that session's report.
"""

import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

pytestmark = [pytest.mark.cpu, pytest.mark.processes]
ROOT = Path(__file__).resolve().parents[1]

#: backend -> how tests/broken_backends.py breaks it
BROKEN = {"openai-whisper": "empty", "faster-whisper": "garbage", "whisper-cpp": "crash", "jax": "lost-window"}


def warm_row(case_id: str) -> str:
    return f"benchmarks/test_transcribe.py::test_warm[{case_id}]"


def corpus_row(case_id: str) -> str:
    return f"benchmarks/test_corpus.py::test_corpus[{case_id}]"


FAST_WRONG_ROWS = [make(f"{backend}-tiny.en-cpu-float32-bnone-sequential-{audio}")
                   for backend in ("openai-whisper", "faster-whisper")
                   for make, audio in ((warm_row, "utt"), (corpus_row, "files"))]
CRASHING_ROW = warm_row("whisper-cpp-tiny.en-cpu-float16-bnone-sequential-utt")


def lost_window_row(real_corpus) -> str:
    """On the real minute (jax chunked calibrated at WER 0.008 there, the ceiling 0.20) where a corpus is
    in use, else on the five composed minutes (calibrated 0.103, the ceiling 0.30): both rows are calibrated."""
    return warm_row(f"jax-tiny.en-cpu-float32-b8-chunked-{'real-1min' if real_corpus is not None else '5min'}")


class Outcomes(dict):
    """Row id -> (its junit outcome: "failure", "error", "skipped" or "passed"; its message)."""

    output = ""  # the session's output, for the assertion messages

    def of(self, row: str) -> tuple[str, str]:
        assert row in self, f"{row} did not run:\n{self.output}"
        return self[row]


@pytest.fixture(scope="module")
def outcomes(real_corpus, tmp_path_factory):
    """Each row's outcome in one session of the benchmarks."""
    report = tmp_path_factory.mktemp("guard") / "report.xml"
    corpus = str(real_corpus.directory) if real_corpus is not None else "none"
    rows = [*FAST_WRONG_ROWS, CRASHING_ROW, lost_window_row(real_corpus)]
    command = [sys.executable, "-m", "pytest", *rows, "-p", "tests.broken_backends", "-p", "no:cacheprovider",
               "--asrperf-preset", "full", "--asrperf-corpus", corpus, "--asrperf-rounds", "3", "-q",
               f"--junitxml={report}"]
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "ASRPERF_BROKEN": ",".join(f"{b}={k}" for b, k in BROKEN.items())})
    results = Outcomes()
    results.output = out.stdout[-3000:] + out.stderr[-2000:]
    if report.exists():
        for case in ElementTree.parse(report).getroot().iter("testcase"):
            row = f"{case.get('classname').replace('.', '/')}.py::{case.get('name')}"
            outcome = next(((child.tag, child.get("message", "") + (child.text or "")) for child in case
                            if child.tag in ("failure", "error", "skipped")), ("passed", ""))
            results[row] = outcome
    return results


@pytest.mark.parametrize("row", FAST_WRONG_ROWS)
def test_fast_wrong_transcript_fails_its_row(outcomes, row):
    outcome, message = outcomes.of(row)
    assert outcome == "failure", f"{row}: {outcome}\n{outcomes.output}"
    assert "transcribed wrongly: WER" in message


def test_losing_a_tenth_of_the_audio_fails_its_row(outcomes, real_corpus):
    """Per-row limits: a tenth of the words gone is caught, where one ceiling per audio case let it pass."""
    outcome, message = outcomes.of(lost_window_row(real_corpus))
    assert outcome == "failure", f"{outcome}\n{outcomes.output}"
    assert "transcribed wrongly: WER" in message and "calibrated" in message


def test_a_bug_fails_the_row_instead_of_skipping(outcomes):
    outcome, message = outcomes.of(CRASHING_ROW)
    assert outcome == "failure", f"{outcome}\n{outcomes.output}"
    assert "a bug while building the pipeline" in message
