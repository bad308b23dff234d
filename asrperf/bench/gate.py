"""Same-machine A/B regression gate on paired timings: ``make gate BASE=<ref>`` (``python -m asrperf.bench.gate``).

Stored baselines from another machine mislead, and back-to-back blocks (every base round,
then every head round) drift by up to ~30 % on a shared runner, more than any threshold worth
gating on. So both revisions stay alive together: one worker process each
(``gate_worker.py``; base: a temporary git worktree of ``--base``, head: the working tree),
each importing asrperf from its own tree, and the gate alternates calls between them in ABBA
pairs. Per row (a pipeline configuration and an audio case) it decides on the paired ratio
head/base (``gate_rule``) and compares the two transcripts.

Exit status: 0 when no row failed (unclear rows are warnings), 1 when a row's slowdown was
confirmed or its transcript got worse, 2 when the gate could not run (a bad ref, a worker that
crashed or hung, no row available here).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import AsrperfError, ConfigurationError
from ..hardware import cpu_flags, cpu_model, cpu_threads
from ..paired import abba_order
from .audio_cases import AudioCase, audio_case, available_audio_cases, default_corpus_dir
from .gate_rule import FAIL, PASS, UNCLEAR, Block, GateRule, Transcript, quality_problems, timing_verdict

WORKER_SCRIPT = Path(__file__).with_name("gate_worker.py")
WORKER_PROTOCOL = 1

#: The default gate set: the short rows of each backend's own algorithm, tiny.en float32 on the CPU
#: unless named, as their benchmark rows run them. Long rows belong to a history across commits.
#: A backend the base revision lacks is skipped, with the reason.
GATE_PIPELINES = (
    dict(backend="jax", batch_size=8, longform="chunked"),
    dict(backend="openai-whisper", batch_size=None, longform="sequential"),
    dict(backend="faster-whisper", batch_size=None, longform="sequential"),
    dict(backend="transformers", batch_size=8, longform="chunked"),
    dict(backend="whisper-jax", batch_size=8, longform="chunked"),
    # eager: torch.compile's minutes of compiling in each worker do not make a short row
    dict(backend="torch", batch_size=8, longform="chunked", compile="none"),
    dict(backend="whisper-cpp", batch_size=None, longform="sequential", dtype="float16"),  # its own format
)


@dataclass(frozen=True)
class Row:
    """One gated measurement: a pipeline configuration and an audio case."""

    backend: str
    batch_size: int | None
    longform: str
    audio: str
    model: str = "tiny.en"
    device: str = "cpu"
    dtype: str = "float32"
    compile: str | None = None  # the torch backend's compile mode

    @property
    def config(self) -> dict:
        return {"backend": self.backend, "model": self.model, "device": self.device, "dtype": self.dtype,
                "batch_size": self.batch_size, "longform": self.longform,
                "options": {"compile": self.compile} if self.compile else {}}

    @property
    def id(self) -> str:  # the benchmark id of the same row (benchmarks/matrix.py)
        backend = f"{self.backend}-{'eager' if self.compile == 'none' else self.compile}" if self.compile \
            else self.backend
        batch = f"b{self.batch_size}" if self.batch_size else "bnone"
        return f"{backend}-{self.model}-{self.device}-{self.dtype}-{batch}-{self.longform}-{self.audio}"


def default_audio(corpus_dir: Path | None) -> tuple[str, ...]:
    """A warm utterance and about a minute: real speech where a corpus is in use, else synthetic."""
    if corpus_dir is None:
        return ("utt", "1min")
    return ("real-utt", "real-1min" if "real-1min" in available_audio_cases(corpus_dir) else "1min")


def gate_rows(backends: Sequence[str] | None, audio: Sequence[str]) -> list[Row]:
    """The default set's rows for ``backends`` (None: all of them), config by config."""
    known = {pipeline["backend"] for pipeline in GATE_PIPELINES}
    unknown = sorted(set(backends or ()) - known)
    if unknown:
        raise ConfigurationError(f"the gate has no row for backend(s) {', '.join(unknown)}; "
                                 f"its rows: {', '.join(sorted(known))}")
    return [Row(audio=name, **pipeline) for pipeline in GATE_PIPELINES
            if backends is None or pipeline["backend"] in backends for name in audio]


# ---------------------------------------------------------------- one revision's worker

@dataclass(frozen=True)
class Timeouts:
    start_s: float = 120.0  # interpreter, numpy, asrperf's light imports
    load_s: float = 900.0  # a first build converts weights and compiles (minutes on a loaded machine)
    call_s: float = 600.0  # one transcription of a gate row takes seconds


@dataclass(frozen=True)
class Call:
    seconds: float
    text: str
    tokens: int | None


def _side_env() -> dict:
    """The whisper-jax side environment for both workers: the base's worktree has none of its own."""
    from ..backends.whisper_jax_upstream import PYTHON_ENV_VAR, side_python

    return {PYTHON_ENV_VAR: str(side_python())}


class GateWorker:
    """A ``gate_worker.py`` process importing asrperf from ``root``; ``side`` names it in errors."""

    def __init__(self, side: str, root: Path, *, inject_slowdown: float = 0.0, plugins: Sequence[Path] = (),
                 timeouts: Timeouts = Timeouts()):
        from ..backends.worker_process import WorkerError, WorkerProcess

        self.side, self.root, self.timeouts = side, root.resolve(), timeouts
        command = [sys.executable, str(WORKER_SCRIPT), "--root", str(self.root)]
        if inject_slowdown:
            command += ["--inject-slowdown", repr(inject_slowdown)]
        for plugin in plugins:
            command += ["--plugin", str(Path(plugin).resolve())]
        # Children the backends start (the whisper-jax worker) see the same tree first too.
        env = {**_side_env(), **os.environ,
               "PYTHONPATH": os.pathsep.join(filter(None, [str(self.root), os.environ.get("PYTHONPATH")]))}
        self._process = WorkerProcess(command, protocol=WORKER_PROTOCOL, name=f"gate {side}",
                                      start_timeout_s=timeouts.start_s, env=env)
        imported = Path(self._process.hello["asrperf"]).resolve()
        if (self.root / "asrperf").is_dir() and not imported.is_relative_to(self.root):
            self.close()
            raise WorkerError(f"the gate's {side} worker imported asrperf from {imported}, not from its revision's "
                              f"tree {self.root}: check that PYTHONPATH is not overridden")

    def send_audio(self, case: AudioCase) -> None:
        samples = np.ascontiguousarray(case.samples, dtype="<f4").tobytes()
        self._process.request({"op": "audio", "name": case.name}, samples, timeout_s=self.timeouts.start_s)

    def load(self, row: Row) -> str | None:
        """Build the row's pipeline (kept until another is loaded); the reason where this revision cannot."""
        reply = self._process.request({"op": "load", "config": row.config}, timeout_s=self.timeouts.load_s)
        return reply.get("unavailable")

    def transcribe(self, audio: str) -> Call:
        reply = self._process.request({"op": "transcribe", "audio": audio}, timeout_s=self.timeouts.call_s)
        return Call(float(reply["seconds"]), reply["text"], reply.get("tokens"))

    def close(self) -> None:
        self._process.close()


# ---------------------------------------------------------------- one row

@dataclass
class RowResult:
    row: Row
    verdict: str = PASS  # PASS, FAIL or UNCLEAR; "skipped" when a side cannot build the row
    timing: str = ""
    blocks: list[Block] = field(default_factory=list)
    base: Transcript | None = None
    head: Transcript | None = None
    problems: list[str] = field(default_factory=list)  # quality failures, with their numbers
    notes: list[str] = field(default_factory=list)
    loadavg_after: list[float] | None = None

    def line(self) -> str:
        if not self.blocks:  # skipped, or not built by the head
            return "\n    ".join([f"{self.row.id}  {self.verdict}", *self.problems, *self.notes])
        decision = self.blocks[-1].decision
        confirmed = " (confirmed)" if len(self.blocks) > 1 and self.timing == FAIL else \
            " (not confirmed)" if len(self.blocks) > 1 else ""
        quality = f"WER {self.base.wer:.3f} -> {self.head.wer:.3f}, tokens {self.base.tokens} -> {self.head.tokens}"
        text = (f"{self.row.id}  head/base {decision.ratio:.2f}x [{decision.low:.2f}, {decision.high:.2f}] "
                f"{self.timing}{confirmed}, n={decision.n}; {quality}")
        return "\n    ".join([text, *(f"FAIL: {p}" for p in self.problems), *(f"note: {n}" for n in self.notes)])

    def as_dict(self) -> dict:
        return {"id": self.row.id, **asdict(self.row), "verdict": self.verdict, "timing": self.timing,
                "blocks": [block.as_dict() for block in self.blocks],
                "base": self.base and asdict(self.base), "head": self.head and asdict(self.head),
                "problems": self.problems, "notes": self.notes, "loadavg_after": self.loadavg_after}


def measure_row(row: Row, workers: dict[str, GateWorker], case: AudioCase, rule: GateRule) -> RowResult:
    """Warm each side once, then ABBA pairs until the rule decides; compare what each side transcribed."""
    result = RowResult(row)
    reasons = {side: worker.load(row) for side, worker in workers.items()}
    if reasons["base"]:  # not installed here, or a backend the change adds: nothing to compare with
        result.verdict = "skipped"
        result.notes.append(f"the base revision cannot build it ({reasons['base']})")
        return result
    if reasons["head"]:  # the base builds it here, so the change broke it
        result.verdict = FAIL
        result.problems.append(f"the head revision cannot build it, the base can ({reasons['head']})")
        return result
    calls: dict[str, list[Call]] = {"base": [], "head": []}

    def timed(side: str) -> float:
        calls[side].append(workers[side].transcribe(row.audio))
        return calls[side][-1].seconds

    for side in calls:  # each side's warm-up, not counted
        timed(side)

    def draw(n: int) -> tuple[list[float], list[float]]:
        times: dict[str, list[float]] = {"base": [], "head": []}
        for order in abba_order(n):
            for side in ("base" if s == "a" else "head" for s in order):
                times[side].append(timed(side))
        return times["base"], times["head"]

    result.timing, result.blocks = timing_verdict(draw, rule)
    from ..metrics import wer
    from ..tolerances import benchmark_max_wer

    for side in calls:
        first = calls[side][0]
        setattr(result, side, Transcript(wer(case.reference, first.text), first.tokens, first.text))
        if len({call.text for call in calls[side]}) > 1:
            result.notes.append(f"{side}'s transcript changed between calls of the same input")
    words = len(case.reference.split())
    result.problems = quality_problems(result.base, result.head, words, benchmark_max_wer(row.model, row.audio))
    result.verdict = FAIL if result.problems else result.timing
    return result


# ---------------------------------------------------------------- a whole gate

def _loadavg() -> list[float] | None:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


class GateIncomplete(AsrperfError, RuntimeError):
    """The gate stopped part-way (a worker crashed or hung); ``summary`` holds the rows measured before."""

    def __init__(self, message: str, summary: dict):
        super().__init__(message)
        self.summary = summary


def compare_trees(base_root: Path, head_root: Path, rows: Sequence[Row], rule: GateRule, *,
                  corpus_dir: Path | None, inject_slowdown: float = 0.0, plugins: Sequence[Path] = (),
                  timeouts: Timeouts = Timeouts(), say: Callable[[str], None] = print) -> dict:
    """Gate ``rows`` of the tree at ``head_root`` against ``base_root``; a JSON-ready summary with a verdict.

    ``inject_slowdown`` makes the head worker F slower (calibration only, see gate_worker.py).
    Raises ``GateIncomplete`` when a worker fails, with the rows measured until then.
    """
    started, load_before = time.perf_counter(), _loadavg()
    say(f"asrperf gate: {len(rows)} rows; per row {rule.pairs} ABBA pairs (up to {rule.max_pairs}), fail when "
        f"head/base is surely > {rule.fail_above:g} and not surely < {rule.pass_below:g}; "
        f"[low, high] are one-sided {rule.confidence:.0%} bounds")
    workers, results, error = {}, [], None
    try:
        workers["base"] = GateWorker("base", base_root, plugins=plugins, timeouts=timeouts)
        workers["head"] = GateWorker("head", head_root, inject_slowdown=inject_slowdown, plugins=plugins,
                                     timeouts=timeouts)
        cases = {name: audio_case(name, corpus_dir) for name in dict.fromkeys(row.audio for row in rows)}
        for case in cases.values():
            for worker in workers.values():
                worker.send_audio(case)
        for row in rows:
            results.append(measure_row(row, workers, cases[row.audio], rule))
            results[-1].loadavg_after = _loadavg()  # the noise of a row follows the machine's load
            say(results[-1].line())
    except AsrperfError as exc:
        error = exc
    finally:
        for worker in workers.values():
            worker.close()
    measured = [r for r in results if r.verdict != "skipped"]
    verdict = "error" if error else FAIL if any(r.verdict == FAIL for r in measured) else \
        UNCLEAR if any(r.verdict == UNCLEAR for r in measured) else PASS
    summary = {"verdict": verdict, "error": error and str(error), "rule": asdict(rule),
               "inject_slowdown": inject_slowdown, "duration_s": round(time.perf_counter() - started, 1),
               "machine": {"cpu_model": cpu_model(), "avx512": "avx512f" in cpu_flags().split(),
                           "cpu_threads": cpu_threads(), "loadavg_before": load_before, "loadavg_after": _loadavg()},
               "corpus": str(corpus_dir) if corpus_dir else None, "rows": [r.as_dict() for r in results]}
    if error:
        raise GateIncomplete(str(error), summary) from error
    if not measured:
        raise GateIncomplete("no gate row could be built on both revisions (see the skipped rows above): "
                             "run `asrperf backends` and `make setup`", summary)
    return summary


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def run_gate(repo: Path, base: str, rows: Sequence[Row], rule: GateRule = GateRule(), *,
             json_out: Path | None = None, **options) -> int:
    """Gate the working tree of ``repo`` against revision ``base``; the exit status (see the module)."""
    repo = Path(_git("rev-parse", "--show-toplevel", cwd=repo))
    base_commit = _git("rev-parse", "--verify", f"{base}^{{commit}}", cwd=repo)
    workdir = Path(tempfile.mkdtemp(prefix="asrperf-gate-"))
    worktree = workdir / "base"
    _git("worktree", "add", "--detach", str(worktree), base_commit, cwd=repo)
    revisions = {"base": {"ref": base, "commit": base_commit},
                 "head": {"commit": _git("rev-parse", "HEAD", cwd=repo),
                          "working_tree_changed": bool(_git("status", "--porcelain", cwd=repo))}}
    try:
        summary = compare_trees(worktree, repo, rows, rule, **options)
    except GateIncomplete as exc:
        if json_out:  # what was measured before the failure, and the error
            json_out.write_text(json.dumps({**exc.summary, **revisions}, indent=1) + "\n")
        raise
    finally:
        _git("worktree", "remove", "--force", str(worktree), cwd=repo)
        shutil.rmtree(workdir, ignore_errors=True)
    summary.update(revisions)
    if json_out:
        json_out.write_text(json.dumps(summary, indent=1) + "\n")
    counts = {v: sum(r["verdict"] == v for r in summary["rows"]) for v in (PASS, UNCLEAR, FAIL, "skipped")}
    print(f"asrperf gate {'FAILED' if summary['verdict'] == FAIL else 'passed'}: {base} ({base_commit[:10]}) vs "
          f"working tree, {summary['duration_s']:.0f} s; rows: " + ", ".join(f"{n} {v}" for v, n in counts.items()))
    return 1 if summary["verdict"] == FAIL else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="origin/main", help="git revision to compare against")
    parser.add_argument("--backend", action="append", help="gate only this backend's rows (repeatable)")
    parser.add_argument("--audio", action="append", help="audio cases (repeatable; default: a real utterance and "
                        "a real minute where a corpus is in use, else utt and 1min)")
    parser.add_argument("--corpus", default=None, help="real-speech corpus folder, or 'none' (default: as the "
                        "benchmarks: $ASRPERF_CORPUS, else ../shared/realspeech/ljspeech where present)")
    rule = GateRule()
    parser.add_argument("--fail-above", type=float, default=rule.fail_above,
                        help="fail when head/base's lower bound is above this (default %(default)s)")
    parser.add_argument("--pass-below", type=float, default=rule.pass_below,
                        help="pass when head/base's upper bound is below this (default %(default)s)")
    parser.add_argument("--pairs", type=int, default=rule.pairs, help="ABBA pairs per block (default %(default)s)")
    parser.add_argument("--max-pairs", type=int, default=rule.max_pairs,
                        help="an unclear block is extended to this many pairs (default %(default)s)")
    parser.add_argument("--call-timeout", type=float, default=Timeouts.call_s,
                        help="seconds one transcription may take before its worker is killed (default %(default)s)")
    parser.add_argument("--json", type=Path, default=None, help="write every row's times and verdicts here")
    parser.add_argument("--inject-slowdown", type=float, default=0.0, metavar="F",
                        help="TEST ONLY (calibration): the head worker sleeps F x each call's time after it")
    parser.add_argument("--worker-plugin", type=Path, action="append", default=[],
                        help="TEST ONLY: a Python file both workers run first (stand-in backends)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # A cancelled CI job sends SIGTERM: exit through the finally blocks, which end the workers and
    # remove the base's worktree, instead of dying with both left behind.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    from .audio_cases import resolve_corpus_dir

    try:
        rule = GateRule(args.fail_above, args.pass_below, args.pairs, args.max_pairs)
        corpus_dir = resolve_corpus_dir(args.corpus) if args.corpus else default_corpus_dir()
        rows = gate_rows(args.backend, args.audio or default_audio(corpus_dir))
        return run_gate(Path.cwd(), args.base, rows, rule, json_out=args.json, corpus_dir=corpus_dir,
                        inject_slowdown=args.inject_slowdown, plugins=args.worker_plugin,
                        timeouts=Timeouts(call_s=args.call_timeout))
    except subprocess.CalledProcessError as exc:
        print(f"asrperf gate: `{' '.join(exc.cmd)}` failed: {exc.stderr.strip()} "
              "(is this a git checkout, and does the base revision exist? try `git fetch`)", file=sys.stderr)
    except AsrperfError as exc:
        print(f"asrperf gate: {exc}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
