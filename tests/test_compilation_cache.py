"""The jax backend's persistent compilation cache: the second process reuses the first one's compile."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.cpu
pytest.importorskip("jax", reason="pip install 'asrperf[jax]'")

BUILD = textwrap.dedent("""
    import json, sys
    from asrperf.backends import load_pipeline
    from asrperf.corpus import utterances
    pipe = load_pipeline("jax", "tiny.en", batch_size=1, compilation_cache_dir=sys.argv[1])
    text = " ".join(s.text for s in pipe.transcribe(utterances()[0].samples()))
    print(json.dumps({"cache": pipe.compilation_cache, "compile_s": pipe.compile_s, "text": text}))
""")


def build_in_fresh_process(cache_dir):
    out = subprocess.run([sys.executable, "-c", BUILD, str(cache_dir)], capture_output=True, text=True,
                         timeout=600, env=os.environ.copy())
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_process_hits_the_cache_and_transcribes_the_same(tmp_path):
    first = build_in_fresh_process(tmp_path / "cache")
    assert first["cache"] == "miss" and any((tmp_path / "cache").iterdir()), "nothing was written to the cache"
    second = build_in_fresh_process(tmp_path / "cache")
    assert second["cache"] == "hit", second
    assert second["text"] == first["text"] and first["text"]
