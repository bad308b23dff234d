"""The jax backend's persistent compilation cache: the second process reuses the first one's compile.

The two processes are tests/test_cold_start.py's cold children (``asrperf.bench.cold``: load_pipeline
with ``compilation_cache_dir``, then a transcription), started once a session for both files (the
``two_cold_children`` fixture in tests/conftest.py).
"""

import pytest

pytestmark = [pytest.mark.cpu, pytest.mark.processes]
pytest.importorskip("jax", reason="pip install 'asrperf[jax]'")


def test_second_process_hits_the_cache_and_transcribes_the_same(two_cold_children):
    (first, _), (second, _), cache = two_cold_children
    assert first["compilation_cache"] == "miss" and any(cache.iterdir()), "nothing was written to the cache"
    assert second["compilation_cache"] == "hit", second
    assert second["text"] == first["text"] and first["text"]
