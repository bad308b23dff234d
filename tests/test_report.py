import json

import pytest

from asrperf.cli import main
from asrperf.errors import ConfigurationError
from asrperf.report import Row, load_rows, markdown

pytestmark = pytest.mark.cpu


def fake_results(path):
    common = {"model": "tiny.en", "device": "cpu", "dtype": "float32", "decoding": "greedy t=0.0", "wer": 0.1,
              "tokens": 40, "peak_rss_mb": 900.0, "audio_s": 60.0}
    benchmarks = [
        {"name": "test_warm[jax-tiny.en-cpu-float32-b8-1min]", "param": "jax-tiny.en-cpu-float32-b8-1min",
         "stats": {"median": 3.0}, "extra_info": {**common, "backend": "jax", "batch_size": 8, "phase": "warm",
                                                  "rtfx": 20.0}},
        {"name": "test_warm[openai-whisper-tiny.en-cpu-float32-bnone-1min]",
         "param": "openai-whisper-tiny.en-cpu-float32-bnone-1min", "stats": {"median": 4.0},
         "extra_info": {**common, "backend": "openai-whisper", "batch_size": None, "phase": "warm", "rtfx": 15.0}},
        {"name": "test_cold[jax-tiny.en-cpu-float32-b8-utt-hit]", "param": "jax-tiny.en-cpu-float32-b8-utt-hit",
         "stats": {"median": 9.0}, "extra_info": {**common, "backend": "jax", "batch_size": 8, "phase": "cold",
                                                  "rtfx": 2.0, "import_s": 1.0, "load_s": 0.5, "compile_s": 0.7,
                                                  "first_call_s": 2.0, "second_call_s": 1.5}},
        {"name": "test_other", "stats": {"median": 1.0}, "extra_info": {}},
    ]
    path.write_text(json.dumps({"machine_info": {"asrperf": {"cpu_model": "Test CPU"}}, "benchmarks": benchmarks}))


def test_report_table_and_plots(tmp_path):
    results = tmp_path / "r.json"
    fake_results(results)
    assert main(["report", str(results), "-o", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "report.md").read_text()
    assert "Test CPU" in text and "jax tiny.en cpu float32 b8" in text and "openai-whisper" in text
    assert "1.00 / 0.50 / 0.70 / 2.00 / 1.50" in text and "cache=hit" in text
    assert "| 3.000 | 20.0 | 0.100 | 40 | 900 |" in text  # fixed decimals per column
    for image in ("time_per_config.png", "cold_vs_warm.png"):
        assert (tmp_path / "out" / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(load_rows([results])) == 3  # rows without asrperf extra_info are ignored


def test_report_rejects_non_results(tmp_path):
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ConfigurationError, match="no asrperf benchmark rows"):
        load_rows([tmp_path / "x.json"])
    (tmp_path / "y.json").write_text("not json")
    assert main(["report", str(tmp_path / "y.json")]) == 2


def test_report_leaves_unrecorded_figures_empty():
    info = {"backend": "jax", "model": "tiny.en", "device": "cpu", "dtype": "float32", "rtfx": None, "tokens": 3}
    row = Row(name="n", audio="utt", phase="warm", median_s=1.0, info=info, machine="m")
    assert "| jax tiny.en cpu float32 seq | utt | warm | 1.000 |  |  | 3 |  |  |" in markdown([row])
