"""The regression gate itself: a slowed change fails it, an unchanged one passes."""

import subprocess
import sys
import textwrap

import pytest

from asrperf.bench.gate import run_gate

pytestmark = pytest.mark.cpu

BENCH = textwrap.dedent("""
    import time
    from pathlib import Path

    DELAY = float(Path(__file__).with_name("delay.txt").read_text())

    def test_work(benchmark):
        benchmark.pedantic(time.sleep, args=(DELAY,), rounds=5, warmup_rounds=1, iterations=1)
""")


@pytest.fixture
def repo(tmp_path):
    pytest.importorskip("pytest_benchmark", reason="pip install 'asrperf[dev]'")
    root = tmp_path / "project"
    (root / "bench").mkdir(parents=True)
    (root / "bench" / "test_bench.py").write_text(BENCH)
    (root / "bench" / "delay.txt").write_text("0.05")
    for command in (["init", "-q"], ["add", "-A"],
                    ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base"]):
        subprocess.run(["git", *command], cwd=root, check=True)
    return root


def test_identical_rerun_passes(repo):
    assert run_gate(repo, "HEAD", 25, "bench", []) == 0


def test_deliberately_slowed_change_fails(repo):
    (repo / "bench" / "delay.txt").write_text("0.10")  # the working tree is now 2x slower
    assert run_gate(repo, "HEAD", 25, "bench", []) != 0


def test_cli_entry_point_reports_bad_base(repo):
    out = subprocess.run([sys.executable, "-m", "asrperf.bench.gate", "--base", "no-such-ref", "--target", "bench"],
                         cwd=repo, capture_output=True, text=True)
    assert out.returncode == 2 and "asrperf gate:" in out.stderr and "Traceback" not in out.stderr
