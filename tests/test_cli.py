import json
import subprocess
import sys

import pytest

from asrperf.cli import main
from asrperf.corpus import utterances

pytestmark = pytest.mark.cpu


def test_transcribe_json(capsys):
    paths = [str(u.path) for u in utterances()[:2]]
    assert main(["transcribe", *paths, "--model", "tiny.en", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["job"]["backend"] == "openai-whisper" and result["job"]["files"] == 2
    assert result["job"]["rtfx"] > 0 and result["job"]["many_files"] == "one file after another"
    assert [r["file"] for r in result["results"]] == paths and all(r["segments"] for r in result["results"])


def test_errors_are_one_line_not_a_traceback(tmp_path):
    out = subprocess.run([sys.executable, "-m", "asrperf.cli", "transcribe", str(tmp_path / "nope.wav")],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.startswith("asrperf: error: audio file not found") and "Traceback" not in out.stderr
    out = subprocess.run([sys.executable, "-m", "asrperf.cli", "transcribe", "x.wav", "--model", "nonexistent"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "no weights for model 'nonexistent'" in out.stderr


def test_models_and_backends_listing(capsys):
    assert main(["models"]) == 0
    listing = capsys.readouterr().out
    assert "tiny.en" in listing and "packaged" in listing
    assert main(["backends"]) == 0
    assert "jax" in capsys.readouterr().out


def test_corpus_compose(tmp_path):
    target = tmp_path / "long.wav"
    assert main(["corpus", "compose", "--seconds", "12", "-o", str(target)]) == 0
    assert target.exists() and (tmp_path / "long.txt").read_text().strip()
