"""Figures never go stale: every table in README.md and docs/ matches the committed result file it names."""

import json
from pathlib import Path

import pytest

from asrperf.cli import main
from asrperf.docs_tables import render_blocks, stale

pytestmark = pytest.mark.cpu
ROOT = Path(__file__).resolve().parents[1]


def test_every_table_matches_its_result_file():
    assert stale(ROOT) == [], "run `asrperf docs` (or `python -m asrperf.cli docs`) and commit the result"


def test_a_doc_quoting_its_results_says_where_they_come_from():
    readme = (ROOT / "README.md").read_text()
    assert "<!-- asrperf-table: verdict docs/results/" in readme  # the first screen's answer is generated


def test_an_edited_figure_is_caught_and_regenerated(tmp_path):
    pair = {"phase": "pair", "factor": "compiler", "held": "same code", "first_label": "a", "second_label": "b",
            "model": "tiny.en", "dtype": "float32", "audio": "1min",
            "pair_ratio": {"ratio": 1.5, "low": 1.4, "high": 1.6, "n": 6, "kind": "paired"}}
    (tmp_path / "docs" / "results").mkdir(parents=True)
    (tmp_path / "docs" / "results" / "r.json").write_text(json.dumps(
        {"machine_info": {"asrperf": {"cpu_model": "Test CPU", "vector_isa": "AVX2", "cpu_threads": 2}},
         "datetime": "2026-12-01T00:00:00", "benchmarks": [{"name": "p", "stats": {"median": 1}, "extra_info": pair}]}))
    marker = "<!-- asrperf-table: verdict docs/results/r.json -->\n"
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{marker}stale\n<!-- /asrperf-table -->\n")
    assert stale(tmp_path) == [readme]
    assert main(["docs", "--root", str(tmp_path)]) == 0
    text = readme.read_text()
    assert "1.50x [1.40, 1.60]" in text and "Test CPU (AVX2, 2 threads)" in text and stale(tmp_path) == []
    assert render_blocks(text, tmp_path) == text
    readme.write_text(text.replace("1.50x", "1.90x"))  # someone edits a figure by hand
    assert main(["docs", "--check", "--root", str(tmp_path)]) == 1
