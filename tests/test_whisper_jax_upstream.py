"""Upstream whisper-jax through its worker: the protocol's failure modes, its weights, its agreement.

The protocol tests drive ``WorkerProcess`` with small fake workers (this interpreter running
the real worker's framing), so crashes, hangs and garbage are exercised without the side
environment. The rest runs the real worker in ``.venv-whisper-jax`` (built by ``make setup``).
"""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from asrperf import tolerances
from asrperf.backends import available_backends, load_pipeline
from asrperf.backends.whisper_jax_upstream import PROTOCOL, WORKER_SCRIPT, probe
from asrperf.backends.worker_process import WorkerError, WorkerProcess
from asrperf.bench.audio_cases import audio_case
from asrperf.errors import AudioError, ConfigurationError, DeviceUnavailableError
from asrperf.metrics import wer
from asrperf.segments import join_text
from asrperf.weights import flax_export

pytestmark = pytest.mark.cpu


# ---------------------------------------------------------------- the protocol, with fake workers

def fake_worker(body: str, *, hello: bool = True) -> list[str]:
    """A command running ``body`` after (optionally) a correct hello, with the real framing helpers."""
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(WORKER_SCRIPT.parent)!r})
        import whisper_jax_worker as w
        out, inp = sys.stdout.buffer, sys.stdin.buffer
        if {hello}:
            w.write_frame(out, {{"protocol": {PROTOCOL}, "versions": {{}}, "pid": 0}})
    """) + textwrap.dedent(body)
    return [sys.executable, "-c", script]


def start(body: str, *, hello: bool = True, start_timeout_s: float = 30.0) -> WorkerProcess:
    return WorkerProcess(fake_worker(body, hello=hello), protocol=PROTOCOL, name="fake",
                         start_timeout_s=start_timeout_s)


ECHO = """
    while (frame := w.read_frame(inp)) is not None:
        header, payload = frame
        w.write_frame(out, {"ok": True, "n": len(payload), "sum": sum(payload)})
"""


def test_a_request_and_its_payload_round_trip():
    worker = start(ECHO)
    payload = np.arange(100_000, dtype="<f4").tobytes()
    reply = worker.request({"op": "echo"}, payload, timeout_s=30)
    assert reply["ok"] and reply["n"] == len(payload) and reply["sum"] == sum(payload)
    worker.close()
    assert worker.closed and worker._process.poll() is not None


def test_a_crash_is_an_error_with_the_workers_stderr():
    worker = start("""
        w.read_frame(inp)
        sys.stderr.write("Traceback: jaxlib exploded while compiling\\n")
        sys.exit(3)
    """)
    with pytest.raises(WorkerError, match=r"(?s)exit code 3.*jaxlib exploded"):
        worker.request({"op": "transcribe"}, b"\0" * 64, timeout_s=30)
    with pytest.raises(WorkerError, match="no longer usable"):
        worker.request({"op": "transcribe"}, timeout_s=30)


def test_a_worker_that_dies_before_its_hello_says_why():
    with pytest.raises(WorkerError, match=r"(?s)exit code 1.*No module named 'jax'"):
        start("sys.stderr.write(\"ModuleNotFoundError: No module named 'jax'\\n\"); sys.exit(1)", hello=False)


def test_a_hang_is_killed_at_the_deadline():
    worker = start("""
        sys.stderr.write("stuck in generate\\n"); sys.stderr.flush()
        w.read_frame(inp)
        time.sleep(3600)
    """)
    with pytest.raises(WorkerError, match=r"(?s)did not answer within.*stuck in generate"):
        worker.request({"op": "transcribe"}, timeout_s=2)
    assert worker._process.poll() is not None  # killed, not left running


def test_a_worker_that_stops_reading_cannot_block_a_large_send():
    worker = start("time.sleep(3600)")  # never reads: the pipe fills long before 64 MB
    with pytest.raises(WorkerError, match="did not answer within"):
        worker.request({"op": "transcribe"}, b"\0" * (64 << 20), timeout_s=2)


@pytest.mark.parametrize("reply,match", [
    (b"Hello from a library that printed to stdout\n", "not a protocol frame"),
    (b"\0\0\0\x05{oops", "not JSON"),
    (b"\0\0\0\x02[]", "not an object"),
    (b"\0\0\0\x0b{\"n\": true}", "no 'ok' field"),
])
def test_a_garbage_reply_is_an_error(reply, match):
    worker = start(f"""
        w.read_frame(inp)
        out.write({reply!r}); out.flush()
        time.sleep(3600)
    """)
    with pytest.raises(WorkerError, match=match):
        worker.request({"op": "transcribe"}, timeout_s=10)
    assert worker._process.poll() is not None


def test_another_protocol_version_is_refused():
    body = 'w.write_frame(out, {"protocol": 99}); time.sleep(3600)'
    with pytest.raises(WorkerError, match="protocol 99"):
        start(body, hello=False)


@pytest.mark.parametrize("kind,error", [("configuration", ConfigurationError), ("device", DeviceUnavailableError),
                                        ("internal", WorkerError)])
def test_error_replies_become_asrperf_errors_and_the_worker_lives_on(kind, error):
    worker = start(f"""
        while (frame := w.read_frame(inp)) is not None:
            w.write_frame(out, {{"ok": frame[0]["op"] == "ping", "kind": {kind!r}, "error": "no GPU in jax 0.4.30",
                                 "traceback": ""}})
    """)
    with pytest.raises(error, match="no GPU in jax 0.4.30"):
        worker.request({"op": "load"}, timeout_s=30)
    assert worker.request({"op": "ping"}, timeout_s=30)["ok"]
    worker.close()


def test_an_abandoned_worker_ends_with_its_owner_and_at_exit():
    worker = start(ECHO)
    process = worker._process
    del worker
    gc.collect()
    assert process.poll() is not None
    # At interpreter exit: a child Python starts a worker that ignores end-of-input and exits without closing it.
    child = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        from asrperf.backends.worker_process import WorkerProcess
        worker = WorkerProcess({fake_worker("time.sleep(3600)")!r}, protocol={PROTOCOL}, name="fake",
                               start_timeout_s=30)
        print(worker.pid)
    """)], capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    pid = int(child.stdout.strip())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


# ---------------------------------------------------------------- the Flax weights directory

def test_flax_layout_of_each_kind_of_tensor():
    rng = np.random.default_rng(0)
    linear, conv, vector = (rng.normal(size=shape).astype(np.float32) for shape in ((6, 4), (8, 3, 5), (6,)))
    name, kernel = flax_export.flax_param("model.decoder.layers.0.fc1.weight", linear)
    assert name == "model/decoder/layers/0/fc1/kernel" and np.array_equal(kernel, linear.T)
    name, kernel = flax_export.flax_param("model.encoder.conv1.weight", conv)
    assert name == "model/encoder/conv1/kernel" and kernel.shape == (5, 3, 8)
    assert kernel[2, 1, 7] == conv[7, 1, 2]
    assert flax_export.flax_param("model.encoder.layers.1.self_attn_layer_norm.weight", vector)[0].endswith("/scale")
    assert flax_export.flax_param("model.decoder.layer_norm.bias", vector)[0] == "model/decoder/layer_norm/bias"
    assert flax_export.flax_param("model.decoder.embed_tokens.weight", linear)[0].endswith("embed_tokens/embedding")
    assert np.array_equal(flax_export.flax_param("model.decoder.embed_positions.weight", linear)[1], linear)


def test_tokenizer_files_keep_every_merge_and_special_token():
    from asrperf.weights.sources import resolve_model

    source = resolve_model("tiny.en").tokenizer_json
    files = flax_export.tokenizer_files(source)
    original = json.loads(source.read_text())
    merges = files["merges.txt"].splitlines()
    assert merges[0].startswith("#version") and len(merges) - 1 == len(original["model"]["merges"])
    assert all(len(m.split(" ")) == 2 for m in merges[1:])
    assert json.loads(files["vocab.json"]) == original["model"]["vocab"]
    specials = json.loads(files["special_tokens_map.json"])["additional_special_tokens"]
    assert "<|notimestamps|>" in specials and "<|startoftranscript|>" in specials
    assert json.loads(files["added_tokens.json"])["<|notimestamps|>"] == 50362


def test_the_flax_directory_is_cached_checked_and_rebuilt(tmp_path, monkeypatch):
    from asrperf.weights.sources import resolve_model

    monkeypatch.setenv("ASRPERF_CACHE_DIR", str(tmp_path))
    # The caching is under test here, not the conversion: a small stand-in keeps the test quick.
    monkeypatch.setattr(flax_export, "flax_params", lambda checkpoint: {"model/decoder/layer_norm/scale": np.ones(4)})
    exports = []

    def export(directory):  # stands in for the side environment: one output file
        exports.append(directory)
        assert (directory / flax_export.PARAMS_FILE).is_file() and (directory / flax_export.EXPORT_SPEC).is_file()
        (directory / "flax_model.msgpack").write_bytes(b"weights")

    resolved = resolve_model("tiny.en")
    first = flax_export.flax_model_dir(resolved, export)
    manifest = flax_export.read_manifest(first)
    assert len(exports) == 1 and not (first / flax_export.PARAMS_FILE).exists()
    assert set(manifest["files"]) >= {"flax_model.msgpack", "vocab.json", "merges.txt", "export.json"}
    assert flax_export.flax_model_dir(resolved, export) == first and len(exports) == 1  # reused
    (first / "flax_model.msgpack").write_bytes(b"truncated")  # corrupted in place
    assert flax_export.flax_model_dir(resolved, export) == first and len(exports) == 2  # rebuilt
    assert (first / "flax_model.msgpack").read_bytes() == b"weights"
    assert not [p for p in first.parent.iterdir() if p.name.endswith(".tmp")]


# ---------------------------------------------------------------- the real worker, in the side environment

@pytest.fixture(scope="module")
def side_env():
    reason = probe()
    if reason:
        pytest.skip(f"whisper-jax unavailable: {reason}")


# The real worker starts JAX 0.4.30, Flax and transformers in the side environment (about 10 s on two
# cores before its first word): the tests that start it are ``processes`` tests, as are its clips.


def test_asrperf_backends_lists_whisper_jax_as_usable(side_env):
    out = subprocess.run([sys.executable, "-m", "asrperf.cli", "backends"], capture_output=True, text=True,
                         timeout=120)
    line = next(line for line in out.stdout.splitlines() if line.startswith("whisper-jax"))
    assert line.split()[1] == "available", line
    assert available_backends()["whisper-jax"] is None


@pytest.mark.processes
def test_rows_record_the_side_environment_and_what_was_passed(side_env, pipeline):
    from asrperf.decoding_record import DecodingRecord
    from asrperf.weights.sources import weights_fingerprint

    pipe = pipeline("whisper-jax", "tiny.en", batch_size=1)
    utterance = audio_case("utt")
    run = pipe.run(utterance.samples)
    segments = run.segments
    info = pipe.describe()
    assert info["side_env_versions"]["jax"] == info["side_env_versions"]["jaxlib"] == "0.4.30"
    assert info["side_env_versions"]["flax"] == "0.8.5" and info["side_env_versions"]["transformers"] == "4.34.1"
    assert info["upstream_rules"]  # kept in every row: no key list filters a row's facts out
    record = run.decoding
    assert record == DecodingRecord.from_dict(pipe.decoding_args)
    assert (record.beam_size, record.temperature, record.timestamps) == (1, 0.0, True)
    assert record.max_new_tokens == pipe.config.decoding.max_new_tokens and record.suppress_blank
    assert record.max_initial_timestamp_index == 50 and len(record.suppress_tokens) > 50
    assert info["generate_args"]["FlaxWhisperPipline"]["max_length"] == 1 + record.max_new_tokens
    assert pipe.weights_sha256 == info["weights_sha256"] == weights_fingerprint("tiny.en")
    call = run.extra["worker_call"]
    assert 0 < call["worker_s"] <= call["roundtrip_s"] and call["ipc_s"] == pytest.approx(
        call["roundtrip_s"] - call["worker_s"], abs=1e-3)
    assert run.windows == 1 and run.tokens > 0 and run.max_length_hits == 0
    assert wer(utterance.reference, join_text(segments)) <= tolerances.benchmark_max_wer("tiny.en", "utt")


@pytest.mark.processes
@pytest.mark.parametrize("make_bad,match", [
    (lambda tmp: np.array([0.1, np.nan] * 8000, np.float32), "NaN"),
    (lambda tmp: np.full((4, 4, 4), 0.1, np.float32), "not a signal"),
    (lambda tmp: tmp / "missing.wav", "not found"),
])
def test_bad_audio_is_refused_before_the_worker(side_env, pipeline, tmp_path, make_bad, match):
    pipe = pipeline("whisper-jax", "tiny.en", batch_size=1)
    with pytest.raises(AudioError, match=match):
        pipe.transcribe(make_bad(tmp_path))
    assert pipe.transcribe(np.zeros(0, np.float32)) == []


@pytest.mark.processes  # a worker of its own
def test_a_killed_worker_is_an_error_not_a_hang(side_env):
    pipe = load_pipeline("whisper-jax", "tiny.en", batch_size=1)
    os.kill(pipe._worker.pid, signal.SIGKILL)
    with pytest.raises(WorkerError, match="exit code -9"):
        pipe.transcribe(audio_case("utt").samples)
    pipe.close()
