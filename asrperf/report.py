"""Turn pytest-benchmark JSON files into a Markdown table and PNG plots.

``asrperf report RESULTS.json... -o DIR`` writes ``DIR/report.md``, ``DIR/time_per_config.png``
(median seconds per backend configuration, one panel per audio length, in the
spirit of the article's bar charts) and ``DIR/cold_vs_warm.png`` (cold-start phases
stacked beside the warm median).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigurationError

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
            row = row_from_benchmark(bench["name"], bench.get("param"), bench["stats"]["median"],
                                     bench.get("extra_info", {}), machine)
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
            ax.barh([r.label for r in group], [r.median_s for r in group], color="tab:blue")
            for y, r in enumerate(group):
                rtfx = _number(r.info.get("rtfx"), 1)
                ax.text(r.median_s, y, f" {rtfx}x" if rtfx else "", va="center", fontsize=8)
            ax.set_xlim(0, 1.15 * group[-1].median_s)  # room for the longest bar's label
            ax.set_title(f"warm transcription, {audio} audio")
            ax.set_xlabel("median seconds (label: RTFx)")
        fig.tight_layout()
        path = out_dir / "time_per_config.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
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
        fig.tight_layout()
        path = out_dir / "cold_vs_warm.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def write_report(paths: list[Path], out_dir: Path) -> Path:
    rows = load_rows(paths)
    out_dir.mkdir(parents=True, exist_ok=True)
    images = plots(rows, out_dir)
    text = "# asrperf report\n\n" + markdown(rows) + "\n" + factor_markdown(rows) + "".join(f"\n![{p.stem}]({p.name})\n" for p in images)
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


#: (factor, what is held fixed, faster candidate, slower candidate): each a (backend, algorithm) pair.
#: A cell is the slower candidate's median ÷ the faster candidate's, from the same run: > 1 means the
#: first named runs faster.
FACTORS = (
    ("framework", "sequential", ("jax", "sequential"), ("openai-whisper", "sequential")),
    ("framework", "chunked", ("jax", "chunked"), ("openai-whisper", "chunked")),
    ("algorithm", "jax", ("jax", "chunked"), ("jax", "sequential")),
    ("algorithm", "openai-whisper", ("openai-whisper", "chunked"), ("openai-whisper", "sequential")),
    ("version", "chunked", ("jax", "chunked"), ("whisper-jax", "chunked")),
)


@dataclass(frozen=True)
class FactorCell:
    factor: str
    held: str
    first: Row
    second: Row

    @property
    def ratio(self) -> float:
        return self.second.median_s / self.first.median_s

    def describe(self) -> str:
        def name(row: Row) -> str:
            version = row.info.get("side_env_versions", {}).get("jax") if row.info.get("backend") == "whisper-jax" \
                else None
            suffix = f" (JAX {version})" if version else ""
            return f"{row.info.get('backend')}{suffix} {algorithm(row.info)} {_batch(row.info)}"

        return f"{name(self.first)} vs {name(self.second)}"


def factor_cells(rows: list[Row]) -> list[FactorCell]:
    """Every factor comparison the rows allow: warm rows of one model, device, dtype and audio.

    Two chunked rows are paired only at the same batch size; a sequential row pairs with
    every chunked batch size of the other side.
    """
    warm = [r for r in rows if r.phase == "warm"]
    groups: dict[tuple, list[Row]] = {}
    for row in warm:
        key = (row.info.get("model"), row.info.get("device"), row.info.get("dtype"), row.audio)
        groups.setdefault(key, []).append(row)
    cells = []
    for key in sorted(groups, key=str):
        group = groups[key]
        for factor, held, (a_backend, a_algo), (b_backend, b_algo) in FACTORS:
            firsts = [r for r in group if r.info.get("backend") == a_backend and algorithm(r.info) == a_algo]
            seconds = [r for r in group if r.info.get("backend") == b_backend and algorithm(r.info) == b_algo]
            for first in sorted(firsts, key=lambda r: r.info.get("batch_size") or 0):
                for second in seconds:
                    both_chunked = a_algo == b_algo == "chunked"
                    if both_chunked and first.info.get("batch_size") != second.info.get("batch_size"):
                        continue
                    cells.append(FactorCell(factor, held, first, second))
    return cells


def factor_markdown(rows: list[Row]) -> str:
    cells = factor_cells(rows)
    if not cells:
        return ("What made the difference: no factor table, since this run has no pair of rows that differ "
                "in one factor only (run `--asrperf-preset full` with jax and openai-whisper, sequential and "
                "chunked).\n")
    lines = ["## What made the difference", "",
             "Each cell: the second configuration's median ÷ the first's, warm, from this run (> 1: the first "
             "is faster). Framework = same algorithm, other framework; algorithm = same framework, chunked "
             "vs sequential long-form; version = asrperf's jax on current JAX vs upstream whisper-jax.", "",
             "| factor | held fixed | first vs second | model | dtype | audio | speed-up |",
             "|---|---|---|---|---|---|---:|"]
    for cell in cells:
        info = cell.first.info
        lines.append(f"| {cell.factor} | {cell.held} | {cell.describe()} | {info.get('model')} | "
                     f"{info.get('dtype')} | {cell.first.audio} | {cell.ratio:.2f}x |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- terminal summary

def _reference_median(row: Row, rows: list[Row]) -> float | None:
    """openai-whisper's sequential median for the same model, device, audio and phase."""
    for other in rows:
        i, j = other.info, row.info
        if (i.get("backend") == "openai-whisper" and algorithm(i) == "sequential" and other.audio == row.audio
                and other.phase == row.phase and i.get("model") == j.get("model")
                and i.get("device") == j.get("device")):
            return other.median_s
    return None


def summary_text(rows: list[Row]) -> str:
    """The answer on screen at the end of `pytest benchmarks`: one line per row, then the factors."""
    header = ("backend", "long-form", "model", "dtype", "batch", "audio", "phase", "median s", "RTFx", "WER",
              "x openai-whisper")
    table = [header]
    for row in sorted(rows, key=lambda r: (r.audio, r.phase, r.label)):
        i = row.info
        reference = _reference_median(row, rows)
        table.append((
            str(i.get("backend")), algorithm(i), str(i.get("model")), str(i.get("dtype")), _batch(i), row.audio,
            row.phase + (f" cache={i['jax_cache']}" if i.get("jax_cache") else ""),
            f"{row.median_s:.3f}", _number(i.get("rtfx"), 1), _number(i.get("wer"), 3),
            f"{reference / row.median_s:.2f}" if reference and row.median_s else "",
        ))
    widths = [max(len(line[k]) for line in table) for k in range(len(header))]
    text = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in table]
    cells = factor_cells(rows)
    if cells:
        text += ["", "what made the difference (speed-up of the first over the second, warm medians, this run):"]
        text += [f"  {c.factor:<9} {c.held:<14} {c.describe()} [{c.first.info.get('model')} {c.first.audio}]: "
                 f"{c.ratio:.2f}x" for c in cells]
    return "\n".join(text)
