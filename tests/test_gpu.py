"""The GPU paths: placement, half precision, device memory figures, float32 precision, labels.

Tests marked ``gpu`` need an NVIDIA GPU and CUDA builds of the frameworks (``make setup
GPU=1``); without one the root conftest skips them with the reason. ``make gpu-check`` runs
them. Until someone has, the GPU paths are untested. The ``cpu`` tests check here and in CI
what needs no GPU: what a GPU row records, the labels, the memory policy, the precision
switch, releasing pipelines, and what ``make gpu-check`` selects.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from asrperf import backends, tolerances
from asrperf.backends.devices import (
    jax_full_float32,
    peak_device_memory,
    reset_peak_device_memory,
    torch_full_float32,
)
from asrperf.bench import gpu_check, record
from asrperf.corpus import utterances
from asrperf.errors import ConfigurationError
from asrperf.hardware import jax_gpu_memory_policy, machine_summary, share_gpu_memory
from asrperf.metrics import wer
from asrperf.report import Row
from asrperf.segments import join_text

from .corpus_runs import agreement_utterances

#: Every dtype each backend takes on the GPU except float32, with the batch size it is tested at.
HALF_PRECISION = [("jax", "float16", 1), ("jax", "bfloat16", 1), ("openai-whisper", "float16", None),
                  ("faster-whisper", "float16", None), ("faster-whisper", "bfloat16", None),
                  ("faster-whisper", "int8", None), ("transformers", "float16", 4), ("transformers", "bfloat16", 4)]
GPU_BACKENDS = [("jax", 8), ("openai-whisper", None), ("faster-whisper", None), ("transformers", 8)]


def relative_error(got, want) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.linalg.norm(got - want) / np.linalg.norm(want))


def placement(pipe) -> str:
    """Where a pipeline's weights live, asked of its framework: "gpu" or what the framework says."""
    if pipe.backend_name == "jax":
        return "/".join(sorted({d.platform for d in pipe.output_devices}))  # the last call's outputs
    if pipe.backend_name == "openai-whisper":
        return "gpu" if next(pipe.model.parameters()).device.type == "cuda" else "cpu"
    if pipe.backend_name == "transformers":
        return "gpu" if pipe._pipe.model.device.type == "cuda" else "cpu"
    return "gpu" if pipe.model.model.device == "cuda" else pipe.model.model.device  # CTranslate2's Whisper


# ---------------------------------------------------------------- on a GPU

@pytest.mark.gpu
@pytest.mark.parametrize("backend,batch_size", GPU_BACKENDS, ids=[b for b, _ in GPU_BACKENDS])
def test_work_runs_on_the_gpu(pipeline, backend, batch_size):
    pipe = pipeline(backend, "tiny.en", "gpu", "float16", batch_size)
    segments = pipe.transcribe(utterances()[0].samples())
    assert join_text(segments).strip()
    assert placement(pipe) == "gpu"


@pytest.mark.gpu
@pytest.mark.parametrize("backend,dtype,batch_size", HALF_PRECISION, ids=[f"{b}-{d}" for b, d, _ in HALF_PRECISION])
def test_half_precision_transcribes_like_float32(pipeline, corpus_transcripts, real_corpus, backend, dtype,
                                                  batch_size):
    items = agreement_utterances(real_corpus)
    reference = " ".join(u.text for u in items)
    cpu_float32 = wer(reference, " ".join(corpus_transcripts("openai-whisper")))
    pipe = pipeline(backend, "tiny.en", "gpu", dtype, batch_size)
    assert pipe.describe()["matmul_precision"] == dtype
    texts = [join_text(pipe.transcribe(u.path)) for u in items]
    assert sum(bool(t.strip()) for t in texts) >= 0.9 * len(texts), "most utterances came back empty"
    gpu = wer(reference, " ".join(texts))
    assert gpu <= cpu_float32 + tolerances.MAX_WER_DELTA_GPU_VS_CPU_FLOAT32, (
        f"{backend} {dtype} on the GPU: corpus WER {gpu:.3f} against {cpu_float32:.3f} for openai-whisper "
        "float32 on the CPU (asrperf/tolerances.py)")


@pytest.mark.gpu
def test_torch_peak_is_positive_and_reset_for_each_row(pipeline):
    import torch

    pipe = pipeline("openai-whisper", "tiny.en", "gpu", "float16")
    spike = torch.empty(2**30, dtype=torch.uint8, device="cuda")  # 1 GiB, far above one utterance's needs
    del spike
    before, _ = peak_device_memory("openai-whisper")
    assert before >= 1024
    assert reset_peak_device_memory("openai-whisper")
    run = pipe.run(utterances()[0].samples())
    peak, scope = peak_device_memory("openai-whisper")
    assert 0 < peak < before and scope == "since reset"
    info = record.ResultRow.from_run(pipe.describe(), run, phase="warm", seconds=1.0,
                                     reference=utterances()[0].text).as_dict()
    assert info["peak_device_mb"] == peak and info["peak_device_scope"] == "since reset"


@pytest.mark.gpu
def test_jax_peak_is_the_process_peak(pipeline):
    pipe = pipeline("jax", "tiny.en", "gpu", "float16", 8)
    pipe.transcribe(utterances()[0].samples())
    assert not reset_peak_device_memory("jax"), "JAX has no reset: its figure is the process's peak"
    peak, scope = peak_device_memory("jax")
    assert peak > 0 and scope == "process"


@pytest.mark.gpu
@pytest.mark.parametrize("backend,batch_size", [("jax", 1), ("openai-whisper", None)])
def test_cold_row_takes_device_memory_from_its_child(backend, batch_size):
    command = [sys.executable, "-m", "asrperf.bench.cold", "--backend", backend, "--device", "gpu",
               "--dtype", "float16", str(utterances()[0].path)]
    if batch_size:
        command += ["--batch-size", str(batch_size)]
    out = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    child = json.loads(out.stdout.strip().splitlines()[-1])
    device = child["description"]
    assert device["peak_device_mb"] > 0 and device["peak_device_scope"] == "process"
    assert device["jax_gpu_memory"] == jax_gpu_memory_policy()  # the child follows the suite's policy
    info = record.ResultRow.build(child["description"], phase="cold", seconds=child["first_call_s"],
                                  reference=utterances()[0].text, hypothesis=child["text"], **child["run"]).as_dict()
    assert info["peak_device_mb"] == child["description"]["peak_device_mb"]


@pytest.mark.gpu
def test_closing_a_pipeline_gives_its_gpu_memory_back():
    import torch

    pipe = backends.load_pipeline("openai-whisper", "tiny.en", device="gpu", dtype="float16")
    held = torch.cuda.memory_allocated()
    pipe.close()
    assert torch.cuda.memory_allocated() < held - 50 * 2**20  # tiny.en's float16 weights: ~75 MiB


@pytest.mark.gpu
@pytest.mark.parametrize("backend", ["openai-whisper", "transformers"])
def test_torch_float32_runs_without_tf32(pipeline, backend):
    import torch

    pipe = pipeline(backend, "tiny.en", "gpu", "float32", 8 if backend == "transformers" else None)
    assert pipe.describe()["matmul_precision"] == "float32"
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((512, 1024)), rng.standard_normal((1024, 512))
    product = torch.from_numpy(a).float().cuda() @ torch.from_numpy(b).float().cuda()
    assert relative_error(product.cpu(), a @ b) < tolerances.MAX_FLOAT32_PRODUCT_RELATIVE_ERROR
    # Whisper's encoder starts with two convolutions, which cuDNN would run as TF32 by default.
    x, w = rng.standard_normal((1, 80, 3000)), rng.standard_normal((384, 80, 3))
    conv = torch.nn.functional.conv1d(torch.from_numpy(x).float().cuda(), torch.from_numpy(w).float().cuda())
    want = torch.nn.functional.conv1d(torch.from_numpy(x), torch.from_numpy(w))
    assert relative_error(conv.cpu(), want) < tolerances.MAX_FLOAT32_PRODUCT_RELATIVE_ERROR


@pytest.mark.gpu
def test_jax_float32_compiles_at_full_float32():
    import jax

    pipe = backends.load_pipeline("jax", "tiny.en", device="gpu", dtype="float32", batch_size=1)
    assert pipe.describe()["matmul_precision"] == "float32"
    # Still the flag this pipeline was compiled under: nothing was built since.
    assert jax.config.jax_default_matmul_precision == "highest"
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((512, 1024)), rng.standard_normal((1024, 512))
    product = jax.jit(lambda x, y: x @ y)(a.astype(np.float32), b.astype(np.float32))
    assert relative_error(product, a @ b) < tolerances.MAX_FLOAT32_PRODUCT_RELATIVE_ERROR
    pipe.close()


# ---------------------------------------------------------------- here and in CI

@pytest.mark.cpu
def test_gpu_rows_say_what_ran(monkeypatch):
    """A cold row's device figures come from its child, and the parent never reads a GPU for it."""
    monkeypatch.setattr(record, "peak_device_memory", lambda backend: pytest.fail("the parent read its own GPU"))
    child = {"backend": "jax", "model": "tiny.en", "device": "gpu", "dtype": "float32", "batch_size": None,
             "matmul_precision": "float32", "effective_batch": 2, "peak_device_mb": 812.5,
             "peak_device_scope": "process", "jax_gpu_memory": "XLA_PYTHON_CLIENT_PREALLOCATE=false"}
    info = record.ResultRow.build(child, phase="cold", seconds=1.0, reference="a b", hypothesis="a b", audio_s=4.0,
                                  windows=1, tokens=2, max_length_hits=0, peak=(1.0, "process"),
                                  decoding=None).as_dict()
    assert (info["peak_device_mb"], info["peak_device_scope"]) == (812.5, "process")
    assert info["jax_gpu_memory"] == child["jax_gpu_memory"]
    assert (info["matmul_precision"], info["effective_batch"]) == ("float32", 2)
    # Two GPUs round batch "none" up to 2: the label says so, and says nothing where the batch ran as asked.
    assert "seq (ran b2)" in Row("x", "utt", "cold", 1.0, info, "m").label
    assert "(ran" not in Row("x", "utt", "cold", 1.0, {**info, "effective_batch": 1}, "m").label
    assert "(ran" not in Row("x", "utt", "warm", 1.0, {**info, "batch_size": 8, "effective_batch": 8}, "m").label


@pytest.mark.cpu
def test_jax_gpu_memory_policy_is_set_and_recorded(monkeypatch):
    assert "XLA_PYTHON_CLIENT_PREALLOCATE" in os.environ  # the root conftest, before jax was imported
    assert machine_summary()["jax_gpu_memory"] == jax_gpu_memory_policy()
    monkeypatch.setenv("XLA_PYTHON_CLIENT_PREALLOCATE", "true")  # a user's choice wins
    monkeypatch.delenv("XLA_PYTHON_CLIENT_ALLOCATOR", raising=False)
    monkeypatch.setenv("XLA_PYTHON_CLIENT_MEM_FRACTION", ".45")
    assert share_gpu_memory() == "XLA_PYTHON_CLIENT_PREALLOCATE=true XLA_PYTHON_CLIENT_MEM_FRACTION=.45"


@pytest.mark.cpu
def test_float32_switches(pipeline):
    jax = pytest.importorskip("jax")
    start = jax.config.jax_default_matmul_precision

    def lowered_precision() -> str:
        text = jax.jit(lambda a, b: a @ b).lower(np.ones((4, 4), np.float32), np.ones((4, 4), np.float32)).as_text()
        return "HIGHEST" if "HIGHEST" in text else "default"

    try:
        assert jax_full_float32("gpu", "float32") == "float32" and lowered_precision() == "HIGHEST"
        assert jax_full_float32("gpu", "bfloat16") == "bfloat16"
        assert jax.config.jax_default_matmul_precision == start and lowered_precision() == "default"
        assert jax_full_float32("cpu", "float32") == "float32" and lowered_precision() == "default"
    finally:
        jax.config.update("jax_default_matmul_precision", start)
    torch = pytest.importorskip("torch")
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        torch.backends.cudnn.allow_tf32 = True
        assert torch_full_float32("cpu", "float32") == "float32" and torch.backends.cudnn.allow_tf32
        assert torch_full_float32("cuda", "float16") == "float16" and torch.backends.cudnn.allow_tf32
        assert torch_full_float32("cuda", "float32") == "float32"
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
    # Every row carries it: here a CPU pipeline, full float32.
    assert pipeline("jax", "tiny.en", batch_size=1).describe()["matmul_precision"] == "float32"


class _Held(backends.Pipeline):
    """A pipeline holding stand-in weights, which records the models it closed."""

    backend_name = "held"
    closed_models: list[str] = []

    def __init__(self, config):
        super().__init__(config, "float32")
        self.weights = np.ones(4)

    def _transcribe(self, samples):
        return []

    def close(self):
        self.__class__.closed_models.append(self.config.model)
        super().close()


@pytest.mark.cpu
def test_closed_pipelines_free_their_weights_and_say_so(monkeypatch, tone):
    monkeypatch.setattr(backends, "_SHARED", {})
    monkeypatch.setattr(backends, "build_counts", type(backends.build_counts)())
    monkeypatch.setattr(backends, "build_pipeline", _Held)
    monkeypatch.setattr(_Held, "closed_models", [])
    large, other_large, small = (backends.make_config("jax", model) for model in ("large-v2", "medium.en", "base"))
    first = backends.shared_pipeline(large)
    backends.shared_pipeline(small)
    assert backends.release_large_shared(keep=large) == 0  # the one being asked for stays
    assert backends.release_large_shared(keep=other_large) == 1 and _Held.closed_models == ["large-v2"]
    assert not hasattr(first, "weights")
    with pytest.raises(ConfigurationError, match="closed"):
        first.transcribe(tone)
    assert backends.shared_pipeline(large) is not first  # built anew
    assert backends.release_all_shared() == 2 and backends._SHARED == {}


@pytest.mark.cpu
def test_gpu_check_without_a_gpu_says_so_in_one_line(monkeypatch, capsys):
    monkeypatch.setattr(gpu_check, "gpu_status", lambda: (False, "no NVIDIA GPU visible (test)"))
    assert gpu_check.main([]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and "no NVIDIA GPU visible" in lines[0] and "pytest tests -m gpu" in lines[0]


@pytest.mark.cpu
def test_gpu_check_selects_the_gpu_rows_of_tiny_and_base(tmp_path):
    from benchmarks.matrix import GPU_CHECK_DTYPES

    selection = f"{gpu_check.WARM} or ({gpu_check.COLD})"
    command = gpu_check.benchmark_command(selection, tmp_path / "b.json", tmp_path / "b.xml")
    command += ["--collect-only", "-q"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    lines = out.stdout.splitlines()
    warm = [line.split("[", 1)[1].rstrip("]") for line in lines if "::test_warm[" in line]
    cold = [line.split("[", 1)[1].rstrip("]") for line in lines if "::test_cold[" in line]
    assert warm and cold and all("-tiny.en-gpu-" in i or "-base-gpu-" in i for i in warm + cold)
    assert all(i.endswith(("-utt", "-1min")) for i in warm) and all("-utt-" in i for i in cold)
    for backend, dtypes in GPU_CHECK_DTYPES.items():
        for model in ("tiny.en", "base"):
            for dtype in dtypes:
                for batch in ("bnone", "b8") if backend != "openai-whisper" else ("bnone",):
                    assert any(i.startswith(f"{backend}-{model}-gpu-{dtype}-{batch}-") for i in warm)
            # Cold: one row per backend and model (float16, its native batch), three for jax's cache.
            rows = [i for i in cold if i.startswith(f"{backend}-{model}-gpu-float16-")]
            assert len(rows) == (3 if backend == "jax" else 1), rows
    assert all("-float16-" in i for i in cold)
    assert {i.rsplit("-", 1)[1] for i in cold if i.startswith("jax-")} == {"off", "miss", "hit"}


@pytest.mark.cpu
def test_gpu_check_covers_every_dtype_each_backend_takes_on_the_gpu():
    from benchmarks.matrix import GPU_CHECK_DTYPES

    from asrperf.backends import faster_whisper, openai_whisper, transformers_whisper
    from asrperf.backends.jax_whisper import pipeline as jax_pipeline

    takes = {"openai-whisper": openai_whisper._DTYPES, "jax": jax_pipeline._DTYPES,
             "faster-whisper": faster_whisper._DTYPES, "transformers": transformers_whisper._DTYPES}
    assert {name: set(dtypes) for name, dtypes in GPU_CHECK_DTYPES.items()} == \
        {name: set(dtypes["gpu"]) for name, dtypes in takes.items()}
