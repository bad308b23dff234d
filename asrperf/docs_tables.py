"""Tables in README.md and docs/ regenerated from committed result files, so no figure goes stale.

A table is written between two markers naming its kind and its source (a path from the
repository root):

    <!-- asrperf-table: verdict docs/results/quick-cpu.json -->
    ...generated...
    <!-- /asrperf-table -->

``asrperf docs`` rewrites every such block from its JSON; ``asrperf docs --check`` (and
``tests/test_docs_tables.py``) fails where a block no longer matches what its JSON says.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable

from .errors import ConfigurationError
from .factors import option_label

_BLOCK = re.compile(r"(<!-- asrperf-table: (\S+) (\S+) -->\n)(.*?)(<!-- /asrperf-table -->)", re.S)


def _machine(data: dict) -> str:
    info = data.get("machine_info", {}).get("asrperf", {})
    versions = ", ".join(f"{name} {info[name]}" for name in ("torch", "jax", "ctranslate2") if info.get(name))
    commit = (data.get("commit_info") or {}).get("id", "")[:10]
    return (f"{info.get('cpu_model', '?')} ({info.get('vector_isa', 'ISA not recorded')}, "
            f"{info.get('cpu_threads', '?')} threads); {versions}; {str(data.get('datetime', '?'))[:10]}"
            + (f", commit {commit}" if commit else ""))


def verdict(path: Path) -> str:
    """The factor table: each paired ratio with its interval, and the machine it was measured on."""
    from .report import load_pairs

    data = json.loads(path.read_text())
    cells = load_pairs([path])
    if not cells:
        raise ConfigurationError(f"{path} has no factor pairs (test_pair rows): run the quick preset")
    lines = [f"Measured on {_machine(data)}.", "",
             "| factor | held fixed | first vs second | audio | second's time ÷ first's, 95 % | pairs |",
             "|---|---|---|---|---:|---:|"]
    for cell in cells:
        lines.append(f"| {cell.factor} | {cell.held} | {cell.describe()} | {cell.model} {cell.audio} | "
                     f"{cell.ratio} | {cell.ratio.n} |")
    return "\n".join(lines) + "\n"


def rows(path: Path) -> str:
    """Every warm, corpus and cold row of a run: median, its within-run interval, RTFx, WER."""
    from .paired import within_run_interval
    from .report import algorithm, load_rows

    data = json.loads(path.read_text())
    lines = [f"Measured on {_machine(data)}.", "",
             "| backend | long-form | batch | audio | phase | median s | 95 % (rounds) | RTFx | WER | tokens |",
             "|---|---|---|---|---|---:|---|---:|---:|---:|"]
    for row in sorted(load_rows([path]), key=lambda r: (r.audio, r.phase, r.median_s)):
        info, times = row.info, [float(t) for t in row.info.get("round_s") or ()]
        interval = "[{1:.2f}, {2:.2f}]".format(*within_run_interval(times)) if len(times) > 1 else ""
        name = str(info.get("backend")) + (f" {option_label('compile', info['compile'])}" if info.get("compile") else "")
        if row.phase == "cold" and info.get("jax_cache"):
            name += f" (cache {info['jax_cache']})"
        batch = f"b{info['batch_size']}" if info.get("batch_size") else "–"
        lines.append(f"| {name} | {algorithm(info)} | {batch} | {row.audio} | {row.phase} | {row.median_s:.2f} | "
                     f"{interval} | {info.get('rtfx') or 0:.1f} | {info.get('wer', 0):.3f} | {info.get('tokens', '')} |")
    return "\n".join(lines) + "\n"


def gate(path: Path) -> str:
    """The regression gate's calibration: per-pair noise, false alarms, detection of injected slowdowns."""
    data = json.loads(path.read_text())
    summary, machine = data.get("summary"), data.get("machine", {})
    if not summary:
        raise ConfigurationError(f"{path} is not a gate calibration file (no 'summary')")
    rule = data["rule"]
    isa = "AVX-512" if machine.get("avx512") else "no AVX-512"
    load = machine.get("loadavg_before", ["?"])[0]
    lines = [f"Measured on {machine.get('cpu_model', '?')} ({isa}, {machine.get('cpu_threads', '?')} threads), "
             f"{str(data.get('date', '?'))[:10]}, load average {load} from other jobs; rows: "
             f"{', '.join(data.get('rows', []))}; rule: pass below {rule['pass_below']}, fail above "
             f"{rule['fail_above']}, {rule['pairs']} then {rule['max_pairs']} pairs.", "",
             "| run | rows | caught (fail) | unclear | passed |", "|---|---:|---:|---:|---:|",
             f"| A/A (the same tree on both sides) | {summary['aa_rows']} | {summary['aa_false_alarms']} | "
             f"{summary['aa_unclear']} | {summary['aa_rows'] - summary['aa_false_alarms'] - summary['aa_unclear']} |"]
    for slowdown, found in sorted(summary["detection"].items(), key=lambda item: float(item[0])):
        lines.append(f"| {float(slowdown):.0%} slower (injected) | {found['rows']} | {found['caught']} | "
                     f"{found['unclear']} | {found['passed']} |")
    noise, flagged = summary["pair_spread_aa"], summary["flagged_from_at_median_spread"]
    lines += ["", f"Per-pair noise (sd of ln(head/base)) in the A/A runs: median {noise['median']:.1%}, "
                  f"75th percentile {noise['p75']:.1%}. At the median noise a slowdown is flagged from "
                  + ", ".join(f"{value:.1%} ({pairs})" for pairs, value in flagged.items()) + "."]
    return "\n".join(lines) + "\n"


RENDERERS: dict[str, Callable[[Path], str]] = {"verdict": verdict, "rows": rows, "gate": gate}


def render_blocks(text: str, root: Path) -> str:
    """``text`` with every table block regenerated from its source."""
    def replace(match: re.Match) -> str:
        opening, kind, source, _, closing = match.groups()
        if kind not in RENDERERS:
            raise ConfigurationError(f"unknown table kind {kind!r}; known: {', '.join(RENDERERS)}")
        path = root / source
        if not path.exists():
            raise ConfigurationError(f"table source {source} does not exist: commit the result file, "
                                     "or point the marker at one that is")
        return opening + RENDERERS[kind](path) + closing

    return _BLOCK.sub(replace, text)


def documents(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def stale(root: Path) -> list[Path]:
    """The documents whose tables differ from what their result files say."""
    return [doc for doc in documents(root) if doc.exists() and render_blocks(doc.read_text(), root) != doc.read_text()]


def regenerate(root: Path) -> list[Path]:
    """Rewrite every table block; returns the documents that changed."""
    changed = []
    for doc in documents(root):
        if not doc.exists():
            continue
        text = doc.read_text()
        new = render_blocks(text, root)
        if new != text:
            doc.write_text(new)
            changed.append(doc)
    return changed
