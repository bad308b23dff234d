"""What the gate can see on this machine: ``python -m asrperf.bench.gate_calibration``.

Runs the gate with both workers on the working tree (no git involved):

* **A/A** (``--aa N`` runs): the same revision against itself. Every FAIL is a false alarm;
  the pairs give the per-pair noise, sd of ln(head/base).
* **injected slowdowns** (``--slowdown F``, ``--slowdown-runs N`` runs each): the head worker
  sleeps F x each call's own time after it (``gate_worker.py --inject-slowdown``), a stand-in
  for a revision F slower. The share of rows that FAIL is the detection rate.

Each run starts fresh workers, as a gate does, so a bias between two processes shows up as
it would in a gate. The machine's load (``/proc/loadavg`` before and after each run) and the
CPU time spent are recorded, since shared machines are where a gate's noise comes from.
Results go to ``docs/results/gate-calibration.json`` by default: the data behind the README's figures.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from ..errors import AsrperfError
from ..paired import CONFIDENCE
from .audio_cases import default_corpus_dir
from .gate import GateIncomplete, compare_trees, gate_rows
from .gate_rule import FAIL, UNCLEAR, GateRule

REPOSITORY = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPOSITORY / "docs" / "results" / "gate-calibration.json"


def flagged_from(spread: float, rule: GateRule, pairs: int) -> float:
    """The smallest head/base ratio whose block fails at this per-pair noise, when measured at its value.

    Fail needs low = R e^-h > fail_above and high = R e^h >= pass_below, h = t * spread / sqrt(n):
    so R >= max(fail_above e^h, pass_below e^-h). A slowdown of that size is flagged about half
    the time by one block (its measured ratio falls on either side), a quarter with confirmation.
    """
    from scipy.stats import t

    h = float(t.ppf(rule.confidence, pairs - 1)) * spread / math.sqrt(pairs)
    return max(rule.fail_above * math.exp(h), rule.pass_below * math.exp(-h))


def summarise(runs: list[dict], rule: GateRule) -> dict:
    def rows(kind_test):
        return [row for run in runs if kind_test(run["inject_slowdown"]) for row in run["rows"]
                if row["verdict"] != "skipped"]

    def spreads(of_rows):
        return [block["pair_spread"] for row in of_rows for block in row["blocks"] if block["pair_spread"] is not None]

    aa, every = rows(lambda f: f == 0), rows(lambda f: True)
    by_row: dict[str, list[float]] = {}
    for row in every:
        by_row.setdefault(row["id"], []).extend(spreads([row]))
    summary = {
        "aa_rows": len(aa),
        "aa_false_alarms": sum(row["verdict"] == FAIL for row in aa),
        "aa_first_block_fails": sum(row["blocks"][0]["verdict"] == FAIL for row in aa),
        "aa_unclear": sum(row["verdict"] == UNCLEAR for row in aa),
        "aa_ratio_range": [min(r["blocks"][-1]["ratio"] for r in aa), max(r["blocks"][-1]["ratio"] for r in aa)]
        if aa else None,
        # Per-pair noise, sd of ln(head/base) in a block: an injected slowdown scales one side's times and
        # leaves this unchanged, so every run's blocks measure it.
        "pair_spread_aa": _quantiles(spreads(aa)),
        "pair_spread_all_runs": _quantiles(spreads(every)),
        "pair_spread_by_row": by_row,
        "detection": {},
    }
    for factor in sorted({run["inject_slowdown"] for run in runs} - {0}):
        slowed = rows(lambda f, factor=factor: f == factor)
        summary["detection"][f"{factor:g}"] = {
            "rows": len(slowed), "caught": sum(row["verdict"] == FAIL for row in slowed),
            "unclear": sum(row["verdict"] == UNCLEAR for row in slowed),
            "passed": sum(row["verdict"] == "pass" for row in slowed),
            "first_block_ratios": [row["blocks"][0]["ratio"] for row in slowed]}
    if spreads(every):
        median = summary["pair_spread_all_runs"]["median"]
        summary["flagged_from_at_median_spread"] = {
            f"{n} pairs": round(flagged_from(median, rule, n) - 1, 4) for n in (rule.pairs, rule.max_pairs)}
    return summary


def _quantiles(values: list[float]) -> dict | None:
    if not values:
        return None
    values = sorted(values)
    return {"blocks": len(values), "median": statistics.median(values),
            "p75": values[min(len(values) - 1, round(0.75 * (len(values) - 1)))], "max": values[-1]}


def calibrate(rows, rule: GateRule, aa: int, slowdowns: list[float], slowdown_runs: int, corpus_dir,
              note: str) -> dict:
    plan = [0.0] * aa + [f for f in slowdowns for _ in range(slowdown_runs)]
    runs = []
    started = time.perf_counter()
    for index, factor in enumerate(plan, 1):
        print(f"--- calibration run {index}/{len(plan)}: " + (f"head {factor:.0%} slower (injected)" if factor
                                                             else "A/A, the same tree on both sides"), flush=True)
        try:
            runs.append(compare_trees(REPOSITORY, REPOSITORY, rows, rule, corpus_dir=corpus_dir,
                                      inject_slowdown=factor))
        except GateIncomplete as exc:  # keep what was measured; the error is in the run's record
            print(f"calibration run {index} stopped: {exc}", flush=True)
            runs.append(exc.summary)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "what": "asrperf gate calibration: A/A runs and injected slowdowns (python -m asrperf.bench.gate_calibration)",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "note": note, "rule": runs[0]["rule"], "confidence": CONFIDENCE,
        "rows": [row.id for row in rows], "machine": runs[0]["machine"],
        "wall_s": round(time.perf_counter() - started, 1),
        "cpu_s": round(children.ru_utime + children.ru_stime, 1),  # every worker, whisper-jax's side workers too
        "summary": summarise(runs, rule),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aa", type=int, default=3, help="A/A runs (default %(default)s)")
    parser.add_argument("--slowdown", type=float, action="append", help="injected slowdowns (default 0.10 and 0.15)")
    parser.add_argument("--slowdown-runs", type=int, default=2, help="runs per slowdown (default %(default)s)")
    parser.add_argument("--backend", action="append", help="rows of these backends only (default: the gate's set)")
    parser.add_argument("--audio", action="append", help="audio cases (default: real-utt, else utt)")
    parser.add_argument("--note", default="", help="recorded with the results (what else loaded the machine)")
    parser.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--summarise-only", action="store_true",
                        help="recompute the summary of the runs already in --out, measuring nothing")
    args = parser.parse_args(argv)
    if args.summarise_only:
        result = json.loads(args.out.read_text())
        result["summary"] = summarise(result["runs"], GateRule(**result["rule"]))
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        print(json.dumps(result["summary"], indent=1))
        return 0
    corpus_dir = default_corpus_dir()
    try:
        rows = gate_rows(args.backend, args.audio or (["real-utt"] if corpus_dir else ["utt"]))
        result = calibrate(rows, GateRule(), args.aa, args.slowdown or [0.10, 0.15], args.slowdown_runs,
                           corpus_dir, args.note)
    except AsrperfError as exc:
        print(f"asrperf gate calibration: {exc}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["summary"], indent=1))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
