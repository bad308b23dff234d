"""``make gpu-check``: the GPU paths, exercised in about ten minutes on one GPU.

``python -m asrperf.bench.gpu_check [--out DIR]`` runs, from the repository root:

1. the gpu-marked tests (``pytest tests -m gpu``: placement, float16/bfloat16 transcripts,
   device memory figures, float32 precision);
2. the warm GPU rows of the benchmark matrix for tiny.en and base: every backend, every
   dtype it takes on the GPU, batch none and 8, ``utt`` and ``1min``;
3. the cold GPU rows on ``utt``. A cold row is fresh processes (5-15 s each), and all of
   them would not fit in ten minutes, so they are cut to each backend and model at float16,
   the GPU default, at the backend's native batch (none for openai-whisper and
   faster-whisper, 8 for jax and transformers), one process per row, with JAX's
   persistent-cache rows (off, miss, hit);
4. ``asrperf report`` over those rows.

It writes ``DIR/gpu-check.json`` (the GPU, what each framework sees, each step's command,
outcome, counts and skip reasons), ``DIR/warm.json`` and ``DIR/cold.json``
(pytest-benchmark's) and ``DIR/report/``. Each step has a time limit within a 600 s budget
(a stopped step writes no results; the steps after it still run). Exit status 0 when
everything ran and passed with nothing skipped (a skip on a GPU machine is a GPU path left
unchecked). Without a GPU it prints one line saying so and what it would run, and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from collections import Counter
from pathlib import Path

from ..hardware import gpu_status

BUDGET_S = 600
#: Each step's latest end, as a share of the budget: the steps after it always get their turn.
STEP_ENDS = {"gpu tests": 0.30, "warm rows": 0.75, "cold rows": 0.95}
MODELS = ("tiny.en", "base")
AUDIO = ("utt", "1min")
BATCHES = ("none", "8")
#: pytest -k selections; -k matches substrings of the ids, e.g. test_cold[jax-base-gpu-float16-b8-chunked-utt-miss].
WARM = "test_warm"
COLD = ("test_cold and -float16- and (bnone and (openai-whisper or faster-whisper) or -b8- and "
        "(jax or transformers))")

RESULT_FILES = ("gpu-check.json", "tests.xml", "warm.json", "warm.xml", "cold.json", "cold.xml")
WHAT_IT_RUNS = ("`pytest tests -m gpu`, then the GPU benchmark rows for tiny.en and base (every backend and GPU "
                "dtype, batch none and 8, utt and 1min, warm; cold on utt at float16) within 10 minutes")


def tests_command(junit: Path) -> list[str]:
    return [sys.executable, "-m", "pytest", "tests", "-m", "gpu", "-rs", f"--junitxml={junit}"]


def benchmark_command(selection: str, results: Path, junit: Path) -> list[str]:
    command = [sys.executable, "-m", "pytest", "benchmarks", "-m", "gpu", "-rs", "--asrperf-preset", "full",
               "--asrperf-device", "gpu", "--asrperf-rounds", "3", "--asrperf-cold-rounds", "1", "-k", selection,
               f"--benchmark-json={results}", "--benchmark-columns=median,rounds", f"--junitxml={junit}"]
    for option, values in (("--asrperf-model", MODELS), ("--asrperf-audio", AUDIO),
                           ("--asrperf-batch-size", BATCHES)):
        for value in values:
            command += [option, value]
    return command


def run_step(name: str, command: list[str], junit: Path, timeout_s: float) -> dict:
    """Run one pytest command in its own process group, stopped (with its children) at ``timeout_s``."""
    print(f"\n== gpu-check: {name} ({timeout_s:.0f} s left for it)\n   {' '.join(command)}", flush=True)
    started = time.perf_counter()
    process = subprocess.Popen(command, start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        returncode, timed_out = process.wait(timeout=max(timeout_s, 1)), False
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # cold-start children too
        returncode, timed_out = process.wait(), True
    return {"name": name, "command": " ".join(command), "returncode": returncode, "timed_out": timed_out,
            "seconds": round(time.perf_counter() - started, 1), **junit_counts(junit)}


def junit_counts(junit: Path) -> dict:
    """Passed, failed, errors and skipped (with reasons) from pytest's JUnit XML; empty if there is none."""
    try:
        cases = ElementTree.parse(junit).getroot().iter("testcase")
    except (OSError, ElementTree.ParseError):
        return {}
    outcome: Counter[str] = Counter()
    failures, skips = [], Counter()
    for case in cases:
        name = f"{case.get('classname')}::{case.get('name')}"
        if case.find("failure") is not None:
            outcome["failed"] += 1
            failures.append(name)
        elif case.find("error") is not None:
            outcome["errors"] += 1
            failures.append(name)
        elif (skipped := case.find("skipped")) is not None:
            outcome["skipped"] += 1
            skips[(skipped.get("message") or "").strip()] += 1
        else:
            outcome["passed"] += 1
    return {**{key: outcome[key] for key in ("passed", "failed", "errors", "skipped")},
            "failures": failures, "skip_reasons": dict(skips.most_common())}


def framework_report() -> dict:
    """What torch, jax and CTranslate2 see, from a process of its own (it starts their GPU backends)."""
    out = subprocess.run([sys.executable, "-m", "asrperf.bench.gpu_check", "--frameworks"],
                         capture_output=True, text=True, timeout=300)
    try:
        return json.loads(out.stdout)
    except json.JSONDecodeError:
        return {"error": (out.stderr or out.stdout)[-2000:]}


def check(out_dir: Path, budget_s: float) -> int:
    from ..hardware import share_gpu_memory

    share_gpu_memory()  # inherited by every pytest process started here
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    summary: dict = {"gpu": gpu_status()[1], "frameworks": framework_report(), "budget_s": budget_s, "steps": []}

    def until(name: str) -> float:
        return STEP_ENDS[name] * budget_s - (time.perf_counter() - started)

    for name in RESULT_FILES:
        (out_dir / name).unlink(missing_ok=True)  # an earlier check's results must not pass for this one's
    summary["steps"].append(run_step("gpu tests", tests_command(out_dir / "tests.xml"), out_dir / "tests.xml",
                                     until("gpu tests")))
    for name, selection in (("warm rows", WARM), ("cold rows", COLD)):
        stem = name.split()[0]
        command = benchmark_command(selection, out_dir / f"{stem}.json", out_dir / f"{stem}.xml")
        summary["steps"].append(run_step(name, command, out_dir / f"{stem}.xml", until(name)))
    results = [path for path in (out_dir / "warm.json", out_dir / "cold.json") if path.exists()]
    summary["benchmark_json"] = [str(path) for path in results]
    if results:
        from ..errors import ConfigurationError
        from ..report import write_report

        try:
            summary["report"] = str(write_report(results, out_dir / "report"))
        except ConfigurationError as exc:  # every row skipped or failed: nothing to report
            summary["report_error"] = str(exc)
    summary["elapsed_s"] = round(time.perf_counter() - started, 1)
    failed = any(s["returncode"] != 0 or s["timed_out"] for s in summary["steps"]) or "report" not in summary
    # A skip on a GPU machine is a GPU path left unchecked (a framework without CUDA, say).
    skipped = sum(s.get("skipped", 0) for s in summary["steps"])
    summary["outcome"] = "failed" if failed else f"incomplete ({skipped} skipped)" if skipped else "passed"
    (out_dir / "gpu-check.json").write_text(json.dumps(summary, indent=1) + "\n")

    print(f"\n== gpu-check on {summary['gpu']}: {summary['outcome'].upper()} "
          f"in {summary['elapsed_s']:.0f} s (budget {budget_s:.0f} s)")
    for step in summary["steps"]:
        counts = ", ".join(f"{step.get(key, '?')} {key}" for key in ("passed", "failed", "errors", "skipped"))
        stop = " STOPPED at its time limit" if step["timed_out"] else ""
        print(f"   {step['name']}: exit {step['returncode']}{stop}, {step['seconds']:.0f} s, {counts}")
        for reason, count in list(step.get("skip_reasons", {}).items())[:5]:
            print(f"      skipped x{count}: {reason[:160]}")
    print(f"   results: {out_dir / 'gpu-check.json'}" + (f", {summary['report']}" if "report" in summary else ""))
    return 0 if summary["outcome"] == "passed" else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asrperf.bench.gpu_check", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("gpu-check"), help="where results go (default: gpu-check)")
    parser.add_argument("--budget-s", type=float, default=BUDGET_S, help="time for the whole check (default: 600)")
    parser.add_argument("--frameworks", action="store_true",
                        help="only print, as JSON, what torch, jax and CTranslate2 see (starts their GPU backends)")
    args = parser.parse_args(argv)
    if args.frameworks:
        from ..hardware import framework_gpus, share_gpu_memory

        share_gpu_memory()
        print(json.dumps({"gpu": gpu_status()[1], **framework_gpus()}, indent=1))
        return 0
    visible, reason = gpu_status()
    if not visible:
        print(f"asrperf gpu-check: {reason}; nothing was run. On a GPU it runs {WHAT_IT_RUNS}, "
              f"and writes {args.out / 'gpu-check.json'} and {args.out / 'report' / 'report.md'}.")
        return 0
    return check(args.out, args.budget_s)


if __name__ == "__main__":
    sys.exit(main())
