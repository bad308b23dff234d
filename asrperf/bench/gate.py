"""Same-machine A/B regression gate: ``make gate BASE=<ref>`` (or ``python -m asrperf.bench.gate``).

Stored baselines from another machine mislead, so the gate measures both sides in one
job: the base revision is checked out into a temporary git worktree, its benchmarks
run and are saved with pytest-benchmark's own storage; then the working tree's run
is compared against that save with ``--benchmark-compare-fail=median:N%``. The
median is the statistic gated on (stddev on 2 cores is mostly scheduler noise).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_FAIL_PERCENT = 25.0


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def _pytest(cwd: Path, storage: Path, target: str, extra: list[str], compare: list[str]) -> int:
    env = {**os.environ, "PYTHONPATH": str(cwd) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    # The base revision runs in a temporary worktree with no ../shared beside it: both sides must
    # transcribe the same speech, so the corpus is pinned to what this checkout would use.
    from .audio_cases import NO_CORPUS, default_corpus_dir

    env.setdefault("ASRPERF_CORPUS", str(default_corpus_dir() or NO_CORPUS))
    command = [sys.executable, "-m", "pytest", target, "-p", "no:cacheprovider", "-q",
               f"--benchmark-storage=file://{storage}", *compare, *extra]
    print("+", " ".join(command), f"(in {cwd})", flush=True)
    return subprocess.run(command, cwd=cwd, env=env).returncode


def run_gate(repo: Path, base: str, fail_percent: float, target: str, extra: list[str],
             json_out: Path | None = None) -> int:
    repo = Path(_git("rev-parse", "--show-toplevel", cwd=repo))
    base_commit = _git("rev-parse", "--verify", f"{base}^{{commit}}", cwd=repo)
    workdir = Path(tempfile.mkdtemp(prefix="asrperf-gate-"))
    worktree, storage = workdir / "base", workdir / "storage"
    _git("worktree", "add", "--detach", str(worktree), base_commit, cwd=repo)
    try:
        code = _pytest(worktree, storage, target, extra, ["--benchmark-save=base"])
        if code != 0:
            print(f"asrperf gate: the base revision's benchmarks failed (exit {code})", file=sys.stderr)
            return code
        compare = ["--benchmark-compare", f"--benchmark-compare-fail=median:{fail_percent:g}%"]
        if json_out:
            compare.append(f"--benchmark-json={json_out}")
        code = _pytest(repo, storage, target, extra, compare)
        verdict = "passed" if code == 0 else "FAILED (a median regressed beyond the threshold, or a run failed)"
        print(f"asrperf gate {verdict}: {base} ({base_commit[:10]}) vs working tree, threshold "
              f"{fail_percent:g}% on the median")
        return code
    finally:
        _git("worktree", "remove", "--force", str(worktree), cwd=repo)
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="origin/main", help="git revision to compare against")
    parser.add_argument("--fail-percent", type=float, default=DEFAULT_FAIL_PERCENT,
                        help=f"fail when a median is this much slower (default {DEFAULT_FAIL_PERCENT:g})")
    parser.add_argument("--target", default="benchmarks", help="what pytest runs on both sides")
    parser.add_argument("--json", type=Path, default=None, help="write the working tree's results here")
    parser.add_argument("extra", nargs="*", help="more pytest arguments (after --)")
    args = parser.parse_args(argv)
    extra = args.extra or ["--asrperf-preset", "quick"]
    try:
        return run_gate(Path.cwd(), args.base, args.fail_percent, args.target, extra, args.json)
    except subprocess.CalledProcessError as exc:
        print(f"asrperf gate: `{' '.join(exc.cmd)}` failed: {exc.stderr.strip()} "
              "(is this a git checkout, and does the base revision exist? try `git fetch`)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
