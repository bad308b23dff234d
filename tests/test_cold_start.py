"""The jax backend's cold start: no torch, and whole executables reused from disk."""

import json
import random
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytestmark = pytest.mark.cpu
jax = pytest.importorskip("jax", reason="pip install 'asrperf[jax]'")

from asrperf.backends.jax_whisper.executables import ExecutableStore  # noqa: E402

# The benchmark's own cold child (``asrperf.bench.cold``: load_pipeline, then two
# transcriptions) in a fresh process; then which frameworks it never needs were imported.
COLD_CHILD = textwrap.dedent("""
    import json, sys
    from asrperf.bench import cold
    cold.main(["--backend", "jax", "--model", "tiny.en", "--batch-size", "2",
               "--compilation-cache-dir", sys.argv[2], sys.argv[1]])
    print(json.dumps({name: name in sys.modules for name in ("torch", "whisper", "transformers")}))
""")


def cold_child(wav, cache_dir):
    out = subprocess.run([sys.executable, "-c", COLD_CHILD, str(wav), str(cache_dir)], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    *_, cold_json, imported = out.stdout.strip().splitlines()
    return json.loads(cold_json), json.loads(imported)


@pytest.mark.processes
def test_jax_cold_start_skips_torch_and_reuses_its_executables(two_cold_children):
    (first, first_imports), (second, second_imports), cache = two_cold_children
    assert first_imports == second_imports == {"torch": False, "whisper": False, "transformers": False}
    assert first["description"]["executables_loaded"] == 0
    assert list((cache / "asrperf-executables").iterdir())
    # Every program of the second process came whole from disk, and runs as the freshly compiled one did.
    assert second["description"]["executables_loaded"] == 2 and second["compilation_cache"] == "hit"
    assert second["text"] == first["text"] and first["text"].strip()


@pytest.mark.processes
def test_cold_phases_are_each_measured_once(two_cold_children):
    """The first call's bucket compiles count as compile, not as load or transcription: no phase is negative."""
    (first, _), (second, _), _ = two_cold_children
    for child in (first, second):
        assert child["bucket_compile_s"], "batch 2 on one utterance compiles a one-row bucket on first use"
        phases = ("import_s", "load_s", "compile_s", "first_call_s", "second_call_s")
        assert all(child[name] >= 0 for name in phases), {name: child[name] for name in phases}
        assert child["compile_s"] >= sum(child["bucket_compile_s"].values())


def unique_program():
    """A jitted function no process has compiled before, so JAX's own cache cannot serve it."""
    salt = np.float32(random.random())
    return jax.jit(lambda x: x * 2 + salt), salt


def test_executable_store_keys_on_program_and_arguments(tmp_path):
    devices = jax.devices("cpu")[:1]
    jitted, salt = unique_program()
    four = jax.ShapeDtypeStruct((4,), np.float32)
    x = np.arange(4, dtype=np.float32)

    writer = ExecutableStore(tmp_path, devices, program={"version": 1})
    compiled = writer.compile("double", jitted, four)
    assert (writer.compiled, writer.loaded) == (1, 0) and len(list(tmp_path.glob("*.jaxexe"))) == 1

    reader = ExecutableStore(tmp_path, devices, program={"version": 1})
    loaded = reader.compile("double", jitted, four)
    assert (reader.compiled, reader.loaded) == (0, 1)
    np.testing.assert_array_equal(loaded(x), compiled(x))
    np.testing.assert_array_equal(loaded(x), x * 2 + salt)

    # Another program description, or other argument shapes, is another executable.
    other = ExecutableStore(tmp_path, devices, program={"version": 2})
    other.compile("double", jitted, four)
    other.compile("double", jitted, jax.ShapeDtypeStruct((8,), np.float32))
    assert (other.compiled, other.loaded) == (2, 0) and len(list(tmp_path.glob("*.jaxexe"))) == 3


def test_damaged_executable_is_compiled_again(tmp_path):
    devices = jax.devices("cpu")[:1]
    jitted, salt = unique_program()
    four = jax.ShapeDtypeStruct((4,), np.float32)
    ExecutableStore(tmp_path, devices, program={}).compile("double", jitted, four)
    (stored,) = tmp_path.glob("*.jaxexe")
    stored.write_bytes(stored.read_bytes()[:100])  # an interrupted copy, say
    store = ExecutableStore(tmp_path, devices, program={})
    rebuilt = store.compile("double", jitted, four)
    assert (store.compiled, store.loaded) == (1, 0)
    np.testing.assert_array_equal(rebuilt(np.ones(4, np.float32)), np.full(4, 2 + salt, np.float32))
    assert len(stored.read_bytes()) > 100, "the damaged entry was replaced"
