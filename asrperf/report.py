"""Turn pytest-benchmark JSON files into a Markdown table and PNG plots.

``asrperf report RESULTS.json... -o DIR`` writes ``DIR/report.md``, ``DIR/time_per_config.png``
(median seconds per backend configuration, one panel per audio length, in the
spirit of the article's bar charts) and ``DIR/cold_vs_warm.png`` (cold-start phases
stacked beside the warm median).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigurationError
from .factors import option_label
from .paired import CONFIDENCE, Ratio, unpaired_ratio, within_run_interval

COLD_PHASES = ("import_s", "load_s", "compile_s", "first_call_s", "second_call_s")


@dataclass(frozen=True)
class Row:
    name: str
    audio: str
    phase: str
    median_s: float
    info: dict
    machine: str

    @property
    def label(self) -> str:
        i = self.info
        batch = f"b{i.get('batch_size')}" if i.get("batch_size") else "seq"
        if i.get("effective_batch") and i["effective_batch"] != (i.get("batch_size") or 1):
            batch += f" (ran b{i['effective_batch']})"  # jax rounds the batch up to a multiple of its devices
        cache = ""
        if self.phase == "cold" and i.get("backend") == "jax":
            cache = f" cache={self.name.rsplit('-', 1)[-1].rstrip(']')}"
        return f"{i.get('backend')} {i.get('model')} {i.get('device')} {i.get('dtype')} {batch}{cache}"


AUDIO_NAMES = ("utt", "1min", "5min", "30min", "35min")


def row_from_benchmark(name: str, param: str | None, median_s: float, info: dict, machine: str) -> Row | None:
    """One pytest-benchmark entry (saved JSON or live session) → a Row; None if it is not asrperf's."""
    if "backend" not in info:
        return None
    audio = info.get("audio") or next(
        (part for part in AUDIO_NAMES if f"-{part}" in str(param or name)), "?")
    return Row(name, audio, info.get("phase", "?"), median_s, info, machine)


def load_rows(paths: list[Path]) -> list[Row]:
    rows = []
    for path in paths:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigurationError(f"{path} is not a pytest-benchmark JSON file ({exc})") from None
        machine = data.get("machine_info", {}).get("asrperf", {}).get("cpu_model", "?")
        for bench in data.get("benchmarks", []):
            info = dict(bench.get("extra_info", {}))
            if bench["stats"].get("data"):  # the timed rounds themselves: a cold row's are whole processes
                info["round_s"] = bench["stats"]["data"]
            row = row_from_benchmark(bench["name"], bench.get("param"), bench["stats"]["median"], info, machine)
            if row is not None:
                rows.append(row)
    if not rows:
        raise ConfigurationError("no asrperf benchmark rows found: pass the JSON written by "
                                 "`pytest benchmarks --benchmark-json=FILE` or saved under .benchmarks/")
    return rows


def _number(value, digits: int) -> str:
    """A table cell: fixed decimals, or empty where a row has no such figure (a zero-second row has no RTFx)."""
    return "" if value is None else f"{value:.{digits}f}"


def markdown(rows: list[Row]) -> str:
    lines = [
        "| configuration | audio | phase | median s | RTFx | WER | tokens | peak RSS MB | import / load / compile / 1st / 2nd call s |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in sorted(rows, key=lambda r: (r.audio, r.phase, r.label)):
        i = row.info
        cold = " / ".join(f"{i[p]:.2f}" for p in COLD_PHASES if p in i) if row.phase == "cold" else ""
        lines.append(
            f"| {row.label} | {row.audio} | {row.phase} | {row.median_s:.3f} | {_number(i.get('rtfx'), 1)} | "
            f"{_number(i.get('wer'), 3)} | {i.get('tokens', '')} | {_number(i.get('peak_rss_mb'), 0)} | {cold} |"
        )
    machines = sorted({r.machine for r in rows})
    decoding = sorted({r.info.get("decoding", "") for r in rows})
    header = [f"Machine: {', '.join(machines)}", f"Decoding (every row): {'; '.join(decoding)}", "",
              "warm: median of timed rounds of an already-used pipeline; cold: a fresh process per round "
              "(the median is the whole process; phases are medians over rounds). RTFx = audio seconds / "
              "median seconds (cold rows: / first-call seconds).", ""]
    return "\n".join(header + lines) + "\n"


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _row_interval(row: Row) -> tuple[float, float]:
    """A row's within-run 95 % interval on its rounds; (median, median) where it has fewer than two."""
    times = [float(t) for t in row.info.get("round_s") or ()]
    if len(times) < 2:
        return row.median_s, row.median_s
    _, low, high = within_run_interval(times)
    return max(0.0, min(low, row.median_s)), max(high, row.median_s)


def plots(rows: list[Row], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    warm = [r for r in rows if r.phase == "warm"]
    audios = sorted({r.audio for r in warm})
    if warm:
        fig, axes = plt.subplots(1, len(audios), figsize=(6 * len(audios), 0.5 * len(warm) + 2.5), squeeze=False)
        for ax, audio in zip(axes[0], audios):
            group = sorted((r for r in warm if r.audio == audio), key=lambda r: r.median_s)
            # Error bars: each row's within-run 95 % interval on its rounds (rows measured apart: unpaired).
            spans = [_row_interval(r) for r in group]
            xerr = [[r.median_s - low for r, (low, _) in zip(group, spans)],
                    [high - r.median_s for r, (_, high) in zip(group, spans)]]
            ax.barh([r.label for r in group], [r.median_s for r in group], xerr=xerr, capsize=3, color="tab:blue")
            for y, r in enumerate(group):
                rtfx = _number(r.info.get("rtfx"), 1)
                ax.text(r.median_s, y, f" {rtfx}x" if rtfx else "", va="center", fontsize=8)
            ax.set_xlim(0, 1.15 * max(high for _, high in spans))  # room for the longest bar's label
            ax.set_title(f"warm transcription, {audio} audio")
            ax.set_xlabel("median seconds, 95 % within-run interval (label: RTFx)")
        path = _save(fig, out_dir / "time_per_config.png")
        written.append(path)
    cold = [r for r in rows if r.phase == "cold"]
    if cold:
        fig, ax = plt.subplots(figsize=(9, 0.5 * len(cold) + 2.5))
        labels = [f"{r.label} [{r.audio}]" for r in cold]
        left = [0.0] * len(cold)
        for phase, colour in zip(COLD_PHASES, ("tab:gray", "tab:orange", "tab:red", "tab:blue", "tab:green")):
            values = [r.info.get(phase, 0.0) for r in cold]
            ax.barh(labels, values, left=left, label=phase.removesuffix("_s").replace("_", " "), color=colour)
            left = [a + b for a, b in zip(left, values)]
        ax.set_xlabel("seconds in a fresh process (medians over rounds)")
        ax.set_title("cold start, phase by phase: is the second call faster?")
        ax.legend(loc="lower right", fontsize=8)
        path = _save(fig, out_dir / "cold_vs_warm.png")
        written.append(path)
    return written


def write_report(paths: list[Path], out_dir: Path) -> Path:
    rows = load_rows(paths)
    pairs = load_pairs(paths) or unpaired_cells(rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    images = plots(rows, out_dir)
    factor_image = factor_plot(pairs, out_dir)
    images += [factor_image] if factor_image else []
    text = "# asrperf report\n\n" + factor_markdown(pairs) + "\n" + markdown(rows) + "".join(
        f"\n![{p.stem}]({p.name})\n" for p in images)
    target = out_dir / "report.md"
    target.write_text(text)
    return target


# ---------------------------------------------------------------- what made the difference

def algorithm(info: dict) -> str:
    """"sequential" or "chunked": the long-form algorithm a row ran (its first word of ``longform``)."""
    words = str(info.get("longform") or "").split()
    return words[0] if words else "?"


def _batch(info: dict) -> str:
    size = info.get("batch_size")
    return f"b{size}" if size else "seq"


def _times(row: Row) -> list[float]:
    return [float(t) for t in row.info.get("round_s") or ()]


@dataclass(frozen=True)
class FactorCell:
    """One factor's ratio: second's time / first's (> 1: the first is faster), with its interval."""

    factor: str
    held: str
    first: str
    second: str
    model: str
    dtype: str
    audio: str
    ratio: Ratio
    note: str = ""

    def describe(self) -> str:
        return f"{self.first} vs {self.second}"


def pair_from_benchmark(info: dict) -> FactorCell | None:
    """A factor pair's row (``benchmarks/test_factors.py``) → its cell; None for any other row."""
    if info.get("phase") != "pair" or "pair_ratio" not in info:
        return None
    return FactorCell(info["factor"], info.get("held", ""), info["first_label"], info["second_label"],
                      str(info.get("model")), str(info.get("dtype")), str(info.get("audio")),
                      Ratio.from_dict(info["pair_ratio"]), info.get("factor_note", ""))


def load_pairs(paths: list[Path]) -> list[FactorCell]:
    cells = []
    for path in paths:
        data = json.loads(Path(path).read_text())
        cells += [c for b in data.get("benchmarks", []) if (c := pair_from_benchmark(b.get("extra_info", {})))]
    return cells


def _side_label(row: Row, with_options: bool = True) -> str:
    """The row as ``factors.Side.label`` spells it."""
    info = row.info
    compile_mode = f" {option_label('compile', info['compile'])}" if with_options and info.get("compile") else ""
    batch = f" b{info['batch_size']}" if info.get("batch_size") else ""
    return f"{info.get('backend')}{compile_mode} {algorithm(info)}{batch}"


def unpaired_cells(rows: list[Row]) -> list[FactorCell]:
    """Factor cells from warm rows measured apart: a Welch interval on log times, labelled unpaired.

    Only where a run has no factor pairs (``test_pair``) for them: the paired cells are the answer.
    """
    from .factors import FACTORS

    warm = [r for r in rows if r.phase == "warm" and len(_times(r)) > 1]
    cells = []
    for factor in FACTORS:
        for first in warm:
            if factor.first.label not in (_side_label(first), _side_label(first, with_options=False)):
                continue
            for second in warm:
                same = all(second.info.get(k) == first.info.get(k) for k in ("model", "device", "dtype"))
                if not same or second.audio != first.audio:
                    continue
                if factor.second.label not in (_side_label(second), _side_label(second, with_options=False)):
                    continue
                ratio = unpaired_ratio(_times(second), _times(first))
                cells.append(FactorCell(factor.name, factor.held, factor.first.label, factor.second.label,
                                        str(first.info.get("model")), str(first.info.get("dtype")), first.audio,
                                        ratio, factor.note))
    return cells


def factor_markdown(pairs: list[FactorCell]) -> str:
    if not pairs:
        return ("What made the difference: no factor table, since this run has no factor pairs "
                "(run `pytest benchmarks -k test_pair`, or the quick preset, which includes them).\n")
    lines = ["## What made the difference", "",
             "Each cell: the second configuration's time ÷ the first's (> 1: the first is faster), from pairs "
             f"timed alternately (ABBA) in one process, with its {int(CONFIDENCE * 100)} % interval; "
             "\"unpaired\" cells come from rows measured apart (Welch interval on log times).", "",
             "| factor | held fixed | first vs second | model | dtype | audio | second ÷ first | pairs |",
             "|---|---|---|---|---|---|---:|---:|"]
    for cell in pairs:
        kind = "" if cell.ratio.kind == "paired" else " (unpaired)"
        lines.append(f"| {cell.factor} | {cell.held} | {cell.describe()} | {cell.model} | {cell.dtype} | "
                     f"{cell.audio} | {cell.ratio}{kind} | {cell.ratio.n} |")
    return "\n".join(lines) + "\n"


def factor_plot(pairs: list[FactorCell], out_dir: Path) -> Path | None:
    """Each factor's ratio with its interval as an error bar, on a log axis centred on 1."""
    if not pairs:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 0.45 * len(pairs) + 1.8))
    labels = [f"{c.factor}: {c.describe()} [{c.model} {c.audio}]" for c in pairs]
    values = [c.ratio.value for c in pairs]
    low = [c.ratio.value - c.ratio.low if math.isfinite(c.ratio.low) else 0 for c in pairs]
    high = [c.ratio.high - c.ratio.value if math.isfinite(c.ratio.high) else 0 for c in pairs]
    ax.errorbar(values, range(len(pairs)), xerr=[low, high], fmt="o", capsize=4, color="tab:blue")
    ax.axvline(1.0, color="gray", linewidth=1)
    ax.set_xscale("log")
    ax.set_yticks(range(len(pairs)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"second's time ÷ first's (> 1: the first is faster), {int(CONFIDENCE * 100)} % interval")
    ax.set_title("what made the difference (paired ABBA rounds)")
    path = _save(fig, out_dir / "factors.png")
    return path


# ---------------------------------------------------------------- terminal summary

def _reference(row: Row, rows: list[Row]) -> Row | None:
    """openai-whisper's sequential row for the same model, device, audio and phase."""
    for other in rows:
        i, j = other.info, row.info
        if (i.get("backend") == "openai-whisper" and algorithm(i) == "sequential" and other.audio == row.audio
                and other.phase == row.phase and i.get("model") == j.get("model")
                and i.get("device") == j.get("device")):
            return other
    return None


def _versus_reference(row: Row, rows: list[Row]) -> str:
    """× openai-whisper: its time ÷ this row's, with an unpaired interval where both have rounds."""
    reference = _reference(row, rows)
    if reference is None or not row.median_s:
        return ""
    if len(_times(row)) > 1 and len(_times(reference)) > 1:
        return str(unpaired_ratio(_times(reference), _times(row)))
    return f"{reference.median_s / row.median_s:.2f}x [no rounds]"


def summary_text(rows: list[Row], pairs: list[FactorCell] = ()) -> str:
    """The answer on screen at the end of `pytest benchmarks`: the factors first, then one line per row."""
    text = []
    cells = list(pairs) or unpaired_cells(rows)
    if cells:
        paired = all(c.ratio.kind == "paired" for c in cells)
        text += [f"what made the difference: second's time / first's (> 1: the first is faster), "
                 f"{int(CONFIDENCE * 100)} % interval, " + ("paired ABBA rounds in one process"
                                                          if paired else "UNPAIRED rows measured apart")]
        text += [f"  {c.factor:<29} {c.describe()} [{c.model} {c.audio}]: {c.ratio}" for c in cells]
        text.append("")
    if not rows:  # a run of factor pairs only
        return "\n".join(text).rstrip()
    header = ("backend", "long-form", "model", "dtype", "batch", "audio", "phase", "median s", "95% (rounds)",
              "RTFx", "WER", "x openai-whisper (unpaired)")
    table = [header]
    for row in sorted(rows, key=lambda r: (r.audio, r.phase, r.label)):
        i = row.info
        times = _times(row)
        interval = ""
        if len(times) > 1:
            _, low, high = within_run_interval(times)
            interval = f"[{low:.3f}, {high:.3f}]"
        table.append((
            str(i.get("backend")) + (f" {option_label('compile', i['compile'])}" if i.get("compile") else ""),
            algorithm(i),
            str(i.get("model")), str(i.get("dtype")), _batch(i), row.audio,
            row.phase + (f" cache={i['jax_cache']}" if i.get("jax_cache") else ""),
            f"{row.median_s:.3f}", interval, _number(i.get("rtfx"), 1), _number(i.get("wer"), 3),
            _versus_reference(row, rows),
        ))
    widths = [max(len(line[k]) for line in table) for k in range(len(header))]
    text += ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in table]
    return "\n".join(text)
