"""Write ``asrperf/calibration.json`` from benchmark result files: ``python -m asrperf.bench.calibrate R.json...``.

Every warm, corpus and cold row (and each side of a factor pair) contributes its WER and
token count under (backend, long-form algorithm, model, dtype, audio case). Rows of one
configuration must agree (the same weights give the same transcript); where float rounding
made them differ, the worst WER and the median token count are kept, and the spread is
printed. CPU rows only (a GPU's kernels round differently: calibrate those from a GPU run);
rows without an entry keep the per-audio ceiling (``tolerances.row_limits``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from ..calibration import CALIBRATION_FILE, key


def _rows(data: dict):
    for bench in data.get("benchmarks", []):
        info = bench.get("extra_info", {})
        sides = [info.get("first"), info.get("second")] if info.get("phase") == "pair" else [info]
        for side in sides:
            if side and "backend" in side and "wer" in side and "tokens" in side:
                yield side, info.get("audio") or side.get("audio")


def collect(paths: list[Path]) -> tuple[dict, list[str]]:
    found: dict[str, list[tuple[float, int]]] = {}
    sources: dict[str, set[str]] = {}
    for path in paths:
        data = json.loads(Path(path).read_text())
        machine = data.get("machine_info", {}).get("asrperf", {})
        source = (f"{Path(path).name}, {str(data.get('datetime', '?'))[:10]}, {machine.get('cpu_model', '?')} "
                  f"({machine.get('vector_isa', 'ISA not recorded')})")
        for side, audio in _rows(data):
            longform = str(side.get("longform") or "?").split()[0]
            if side.get("device") != "cpu":
                continue
            name = key(side["backend"], longform, side["model"], side["dtype"], audio)
            found.setdefault(name, []).append((float(side["wer"]), int(side["tokens"])))
            sources.setdefault(name, set()).add(source)
    rows, notes = {}, []
    for name, values in sorted(found.items()):
        wers, tokens = [w for w, _ in values], [t for _, t in values]
        if max(wers) - min(wers) > 1e-9 or max(tokens) != min(tokens):
            notes.append(f"{name}: WER {min(wers):.4f}-{max(wers):.4f}, tokens {min(tokens)}-{max(tokens)}")
        rows[name] = {"wer": max(wers), "tokens": int(statistics.median(tokens)),
                      "measured": "; ".join(sorted(sources[name]))}
    return rows, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path, help="pytest-benchmark JSON files")
    parser.add_argument("--out", type=Path, default=CALIBRATION_FILE)
    parser.add_argument("--merge", action="store_true", help="keep entries of the existing file not measured here")
    args = parser.parse_args(argv)
    rows, notes = collect(args.results)
    if args.merge and args.out.exists():
        rows = {**json.loads(args.out.read_text())["rows"], **rows}
    args.out.write_text(json.dumps({"rows": rows}, indent=1, sort_keys=True) + "\n")
    print(f"{len(rows)} calibrated rows written to {args.out}")
    for note in notes:
        print(f"  rows of one configuration differed: {note}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
