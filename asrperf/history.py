"""Each benchmark row across saved runs, in commit order: ``asrperf history [.benchmarks] -o DIR``.

pytest-benchmark saves runs (``--benchmark-autosave``, which ``make bench`` passes) but has no
view of one row over time. This reads every saved run, orders them by commit time, and for
each row draws its median with its 95 % within-run interval per run (a pair row: its paired
ratio and interval), marking a **step** where two consecutive runs' intervals do not overlap
and the medians differ by more than ``STEP_MIN_CHANGE`` (the view asv's regression pages and
github-action-benchmark's charts give). Runs on different machines are kept apart: a saved
run's folder is pytest-benchmark's machine id (OS and Python only), so runs are further grouped
by the CPU each recorded, and only one CPU's runs are compared: a change of machine is not a step.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigurationError
from .paired import Ratio, within_run_interval

#: A step must also move the median by at least this much (relative): narrow intervals on a
#: quiet machine would otherwise mark 1 % changes that no one acts on.
STEP_MIN_CHANGE = 0.05


@dataclass(frozen=True)
class Point:
    """One row in one saved run: its centre and 95 % interval (seconds, or a ratio for a pair row)."""

    run: str  # commit (short) and date, the x-axis label
    value: float
    low: float
    high: float


@dataclass(frozen=True)
class Series:
    name: str
    unit: str  # "s" or "ratio"
    points: tuple[Point, ...]
    machine: str = "?"  # the CPU every point was measured on

    def steps(self) -> list[tuple[Point, Point]]:
        """Consecutive runs whose intervals are disjoint and whose centres differ by > STEP_MIN_CHANGE."""
        found = []
        for before, after in zip(self.points, self.points[1:]):
            disjoint = after.low > before.high or after.high < before.low
            if disjoint and abs(math.log(after.value / before.value)) > math.log1p(STEP_MIN_CHANGE):
                found.append((before, after))
        return found


def _point(label: str, bench: dict) -> tuple[str, Point] | None:
    info = bench.get("extra_info", {})
    if info.get("phase") == "pair" and "pair_ratio" in info:
        ratio = Ratio.from_dict(info["pair_ratio"])
        return "ratio", Point(label, ratio.value, ratio.low, ratio.high)
    times = bench.get("stats", {}).get("data") or info.get("round_s") or []
    median = bench.get("stats", {}).get("median")
    if not median:
        return None
    if len(times) > 1:
        _, low, high = within_run_interval(times)
        return "s", Point(label, median, min(low, median), max(high, median))
    return "s", Point(label, median, median, median)


def _label(data: dict) -> tuple[str, str]:
    """The sort key (commit time, then when the run was saved) and the x-axis label: commit and save
    time, so that two runs of one commit stay two points."""
    commit = data.get("commit_info") or {}
    saved = str(data.get("datetime") or "")
    when = f"{commit.get('time') or saved} {saved}"
    short = f"{str(commit.get('id') or '?')[:7]}{'+' if commit.get('dirty') else ''}"
    return when, f"{short} {saved[:16].replace('T', ' ')}".strip()


def _cpu(data: dict) -> str:
    """The CPU a run was measured on: its model name and, where recorded, its widest vector ISA. One
    model name ("AMD EPYC") covers machines with and without AVX-512, whose timings differ."""
    info = data.get("machine_info") or {}
    asrperf_info = info.get("asrperf") or {}
    model = str((info.get("cpu") or {}).get("brand_raw") or asrperf_info.get("cpu_model") or "?")
    return f"{model} ({asrperf_info['vector_isa']})" if asrperf_info.get("vector_isa") else model


def load_history(storage: Path, machine: str | None = None) -> list[Series]:
    """Every row's series over the saved runs of one machine: the pytest-benchmark machine id and CPU
    with the most runs, unless ``machine`` names one (either the folder or the CPU)."""
    paths = [p for p in Path(storage).glob("*/*.json")]
    if not paths:
        raise ConfigurationError(f"no saved runs under {storage}: run `make bench` (it saves with "
                                 "--benchmark-autosave) at least twice, on different commits")
    groups: dict[tuple[str, str], list] = {}
    for path in paths:
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"{path} is not a pytest-benchmark JSON file ({exc})") from None
        groups.setdefault((path.parent.name, _cpu(data)), []).append((*_label(data), data))
    if machine is not None:
        groups = {key: runs for key, runs in groups.items() if machine in key}
        if not groups:
            raise ConfigurationError(f"no saved runs for machine {machine!r} under {storage}")
    (_, cpu), chosen = max(groups.items(), key=lambda group: len(group[1]))
    runs = sorted(chosen, key=lambda run: run[0])
    series: dict[str, tuple[str, list[Point]]] = {}
    for _, label, data in runs:
        for bench in data.get("benchmarks", []):
            found = _point(label, bench)
            if found:
                unit, point = found
                series.setdefault(bench["name"], (unit, []))[1].append(point)
    return [Series(name, unit, tuple(points), cpu) for name, (unit, points) in sorted(series.items())]


def markdown(history: list[Series]) -> str:
    runs = list(dict.fromkeys(p.run for s in history for p in s.points))
    lines = ["| row | " + " | ".join(runs) + " | steps |", "|---|" + "---:|" * len(runs) + "---|"]
    for s in history:
        cells = {p.run: f"{p.value:.3g} [{p.low:.3g}, {p.high:.3g}]" for p in s.points}
        steps = "; ".join(f"{a.run} → {b.run}: {b.value / a.value:.2f}x" for a, b in s.steps())
        lines.append(f"| {s.name} ({s.unit}) | " + " | ".join(cells.get(r, "") for r in runs) + f" | {steps} |")
    return "\n".join(lines) + "\n"


def plot(history: list[Series], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(history), 1, figsize=(9, 2.2 * len(history) + 0.5), squeeze=False)
    for ax, s in zip(axes[:, 0], history):
        xs = range(len(s.points))
        values = [p.value for p in s.points]
        errors = [[p.value - p.low for p in s.points], [p.high - p.value for p in s.points]]
        ax.errorbar(xs, values, yerr=errors, fmt="o-", capsize=4, color="tab:blue")
        for before, after in s.steps():
            index = s.points.index(after)
            ax.axvline(index - 0.5, color="tab:red", linestyle="--", linewidth=1)
            ax.annotate(f"step {after.value / before.value:.2f}x", (index - 0.5, max(values)), color="tab:red",
                        fontsize=8, ha="center", va="bottom")
        ax.set_xticks(list(xs), [p.run for p in s.points], fontsize=7)
        ax.set_title(s.name, fontsize=8)
        ax.set_ylabel("second ÷ first" if s.unit == "ratio" else "median s (95 %)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_history(storage: Path, out_dir: Path, machine: str | None = None, match: str | None = None) -> Path:
    history = load_history(storage, machine)
    if match:
        history = [s for s in history if match in s.name]
    history = [s for s in history if len(s.points) >= 2]
    if not history:
        raise ConfigurationError("no row appears in two or more saved runs (check the filter, or save another run)")
    out_dir.mkdir(parents=True, exist_ok=True)
    image = plot(history, out_dir / "history.png")
    target = out_dir / "history.md"
    target.write_text(f"# asrperf history\n\nMeasured on {history[0].machine}. Each row's median (pair rows: "
                      f"their paired ratio) with its 95 % interval, saved runs in commit order; a step is "
                      f"marked where two consecutive runs' intervals are disjoint and the change exceeds "
                      f"{STEP_MIN_CHANGE:.0%}.\n\n"
                      + markdown(history) + f"\n![history]({image.name})\n")
    return target
