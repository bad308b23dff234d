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
        cache = ""
        if self.phase == "cold" and i.get("backend") == "jax":
            cache = f" cache={self.name.rsplit('-', 1)[-1].rstrip(']')}"
        return f"{i.get('backend')} {i.get('model')} {i.get('device')} {i.get('dtype')} {batch}{cache}"


def load_rows(paths: list[Path]) -> list[Row]:
    rows = []
    for path in paths:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigurationError(f"{path} is not a pytest-benchmark JSON file ({exc})") from None
        machine = data.get("machine_info", {}).get("asrperf", {}).get("cpu_model", "?")
        for bench in data.get("benchmarks", []):
            info = bench.get("extra_info", {})
            if "backend" not in info:
                continue
            param = bench.get("param") or bench["name"]
            audio = next((part for part in ("utt", "1min", "5min", "30min", "35min") if f"-{part}" in str(param)), "?")
            rows.append(Row(bench["name"], audio, info.get("phase", "?"), bench["stats"]["median"], info, machine))
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
    text = "# asrperf report\n\n" + markdown(rows) + "".join(f"\n![{p.stem}]({p.name})\n" for p in images)
    target = out_dir / "report.md"
    target.write_text(text)
    return target
