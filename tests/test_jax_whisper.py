"""asrperf's JAX Whisper: numerical parity with openai-whisper, decoding rules, long-form, devices."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytestmark = pytest.mark.cpu
jax = pytest.importorskip("jax", reason="pip install 'asrperf[jax]'")
torch = pytest.importorskip("torch", reason="the parity tests compare with openai-whisper: pip install 'asrperf[torch]'")
whisper = pytest.importorskip("whisper", reason="pip install 'asrperf[torch]'")

from asrperf.backends.jax_whisper import decode, model  # noqa: E402
from asrperf.backends.jax_whisper.params import Layout, Linear, params_from_state  # noqa: E402
from asrperf import tolerances  # noqa: E402
from asrperf.batch_buckets import BucketLog  # noqa: E402
from asrperf.corpus import compose, utterances  # noqa: E402
from asrperf.errors import DeviceUnavailableError  # noqa: E402
from asrperf.metrics import wer  # noqa: E402
from asrperf.segments import join_text  # noqa: E402
from asrperf.weights.sources import load_checkpoint, resolve_model  # noqa: E402


def relative_error(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.linalg.norm(a - b) / np.linalg.norm(b)


# base: a second model's weights through the same code (a calibration run: make test, not the laptop check)
@pytest.mark.parametrize("name", ["tiny.en", pytest.param("base", marks=pytest.mark.calibration)])
def test_parity_with_openai_whisper_float32(name):
    checkpoint = load_checkpoint(resolve_model(name))
    dims = checkpoint.dims
    reference = whisper.model.Whisper(whisper.model.ModelDimensions(**dims))
    reference.load_state_dict({k: torch.from_numpy(v.astype(np.float32)) for k, v in checkpoint.state.items()})
    reference.eval()
    params = params_from_state(checkpoint.state, dims, decoder_layout=Layout.OUT_IN)
    rng = np.random.default_rng(0)
    mel = rng.standard_normal((2, dims["n_mels"], model.N_FRAMES)).astype(np.float32)
    tokens = rng.integers(0, dims["n_vocab"], (2, 10))
    with torch.no_grad():
        torch_features = reference.encoder(torch.from_numpy(mel))
        torch_logits = reference.decoder(torch.from_numpy(tokens), torch_features)
    # Compiled whole, as the pipeline runs them (op by op, each of some 250 operations compiles alone).
    encode, decode_full = jax.jit(model.encode, static_argnums=2), jax.jit(model.decode_full, static_argnums=3)
    features = encode(params, mel, dims["n_audio_head"])
    logits = decode_full(params, tokens, features, dims["n_text_head"])
    assert relative_error(features, torch_features) < 1e-4
    assert relative_error(logits, torch_logits) < 1e-4
    # The [in, out] decoder layout that one-row-per-device pipelines use computes the same logits.
    gemv_params = params_from_state(checkpoint.state, dims, decoder_layout=Layout.IN_OUT)
    assert relative_error(decode_full(gemv_params, tokens, features, dims["n_text_head"]), torch_logits) < 1e-4
    # The cached single-token step gives the same logits as the full pass.
    t_max = 16
    cache = model.empty_self_cache(params, 2, t_max, dims["n_text_head"])
    cross = jax.jit(model.cross_kv, static_argnums=2)(params, features, dims["n_text_head"])
    decode_step = jax.jit(model.decode_step, static_argnums=5)
    steps = []
    for position in range(tokens.shape[1]):
        step_logits, cache = decode_step(params, tokens[:, position], np.int32(position), cache, cross,
                                         dims["n_text_head"])
        steps.append(step_logits)
    assert relative_error(np.stack(steps, 1), torch_logits) < 1e-4


def test_log_mel_matches_openai_whisper():
    audio = utterances()[0].samples()
    window = np.zeros(model.CHUNK_SAMPLES, np.float32)
    window[: len(audio)] = audio
    ours = model.log_mel(window[None], model.mel_filters(80))[0]
    theirs = whisper.log_mel_spectrogram(torch.from_numpy(window))[:, : model.N_FRAMES].numpy()
    assert relative_error(ours, theirs) < 1e-5


@pytest.fixture(scope="module")
def jax_tiny(pipeline):
    return pipeline("jax", "tiny.en", batch_size=1)


def test_timestamp_rules_hold_in_generated_tokens(jax_tiny):
    spec = jax_tiny.spec
    audio = np.zeros((jax_tiny.batch, model.CHUNK_SAMPLES), np.float32)
    sample = utterances()[5].samples()
    audio[0, : len(sample)] = sample
    tokens, n_tokens, hit_max = jax_tiny._step(audio, 1, BucketLog())
    sampled = np.asarray(tokens)[0, len(spec.prompt) : len(spec.prompt) + int(n_tokens[0])]
    assert not bool(hit_max[0])
    is_ts = sampled >= spec.timestamp_begin
    assert is_ts[0] and sampled[0] - spec.timestamp_begin <= spec.max_initial_timestamp_index
    stamps = sampled[is_ts]
    assert list(stamps) == sorted(stamps), "timestamps never decrease"
    assert not np.isin(sampled, spec.suppress).any()
    # Pairs: text is always enclosed; no three timestamps in a row.
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0, is_ts.astype(int), 0])))
    assert all(r <= 2 for r in runs[::2])
    segments = decode.split_segments(sampled, spec, jax_tiny.tokenizer.decode)
    assert segments and all(start is not None and end is not None and start < end for start, end, _ in segments)


def test_long_form_matches_openai_whisper_quality(pipeline):
    composed = compose(60.0, seed=1)
    # The session's batch-8 pipeline (tests/test_algorithms.py's chunked row): no pipeline of its own.
    jax_segments = pipeline("jax", "tiny.en", batch_size=8).transcribe(composed.samples)
    torch_segments = pipeline("openai-whisper", "tiny.en").transcribe(composed.samples)
    jax_wer, torch_wer = wer(composed.reference, join_text(jax_segments)), wer(composed.reference, join_text(torch_segments))
    assert jax_wer <= tolerances.MAX_WER_JAX_ONE_MINUTE, (jax_wer, torch_wer)
    assert jax_wer <= torch_wer + tolerances.MAX_WER_JAX_ABOVE_OPENAI_ONE_MINUTE, (jax_wer, torch_wer)
    starts = [s.start for s in jax_segments]
    assert starts == sorted(starts) and jax_segments[-1].end <= composed.duration_s + 0.02
    assert jax_segments[-1].end > composed.pieces[-1][1] - 5.0, "speech near the end was lost"
    # No words duplicated at the 20 s seams: the word count stays close to the reference.
    assert abs(len(join_text(jax_segments).split()) - len(composed.reference.split())) <= \
        tolerances.MAX_WORD_COUNT_DRIFT * len(composed.reference.split())


def test_work_runs_on_the_requested_device(jax_tiny):
    jax_tiny.transcribe(utterances()[1].samples())
    assert {d.platform for d in jax_tiny.output_devices} == {"cpu"}


def test_gpu_request_without_gpu_is_a_clear_error():
    from asrperf.backends import load_pipeline

    if any(d.platform == "gpu" for d in jax.devices()):
        pytest.skip("a GPU is visible: this test checks the error on CPU-only machines")
    with pytest.raises(DeviceUnavailableError, match="device='gpu'"):
        load_pipeline("jax", "tiny.en", device="gpu")


def test_bfloat16_transcribes(pipeline):
    pipe = pipeline("jax", "tiny.en", dtype="bfloat16", batch_size=1)
    subset = utterances()[::8]
    score = wer([u.text for u in subset], [join_text(pipe.transcribe(u.path)) for u in subset])
    assert pipe.describe()["dtype"] == "bfloat16" and score <= tolerances.MAX_WER_JAX_BFLOAT16_SUBSET


SHARDED = textwrap.dedent("""
    import json, sys
    from asrperf.backends import load_pipeline
    from asrperf.corpus import compose
    audio = compose(45.0, seed=2).samples  # two chunks: one per device
    pipe = load_pipeline("jax", "tiny.en", batch_size=2)
    text = " ".join(s.text for s in pipe.transcribe(audio))
    print(json.dumps({"devices": len(pipe.devices), "used": sorted(str(d) for d in pipe.output_devices),
                      "text": text}))
""")


def run_isolated(code, env_extra):
    env = {**os.environ, **env_extra}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.processes
def test_batch_sharded_over_two_devices_gives_the_same_text(pipeline):
    # XLA_FLAGS must be set before jax is imported, hence a fresh process for two devices. One device is
    # this session's batch-8 pipeline: the audio's two windows run in its batch-2 bucket, the program the
    # one-device batch-2 child ran (rows are decoded independently of the bucket: asrperf.batch_buckets).
    two = run_isolated(SHARDED, {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    one = pipeline("jax", "tiny.en", batch_size=8)
    text = " ".join(s.text for s in one.transcribe(compose(45.0, seed=2).samples))
    assert two["devices"] == 2 and len(two["used"]) == 2
    assert len(one.devices) == 1 and len({str(d) for d in one.output_devices}) == 1
    assert two["text"] == text and text


def test_cpu_few_row_products_match_the_dot():
    """The decoder's CPU multiply-and-reduce products give the dot's numbers."""
    rng = np.random.default_rng(1)
    layer = Linear(jax.numpy.asarray(rng.standard_normal((48, 16), np.float32)),
                   jax.numpy.asarray(rng.standard_normal(48, np.float32)), Layout.OUT_IN)
    rows = rng.standard_normal((3, 5, 16)).astype(np.float32)
    reduced = model.linear(rows, layer)
    dotted = model.linear(rows, Linear(layer.weight.T, layer.bias, Layout.IN_OUT))  # the same layer for GEMMs
    assert reduced.shape == (3, 5, 48)
    assert relative_error(reduced, dotted) < 1e-6
    assert relative_error(reduced, rows @ np.asarray(layer.weight).T + np.asarray(layer.bias)) < 1e-6


def test_blocked_attention_forms_match_whole_rows():
    """The encoder's query-blocked attention (CPU per-head form, and the batched form other
    platforms get) computes the same softmax attention as whole score rows."""
    rng = np.random.default_rng(2)
    q, v = (rng.standard_normal((2, 3, 600, 8)).astype(np.float32) for _ in range(2))
    k_t = rng.standard_normal((2, 3, 8, 600)).astype(np.float32)
    scores = np.einsum("bhqd,bhdk->bhqk", q, k_t)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    expected = np.einsum("bhqk,bhkd->bhqd", weights / weights.sum(-1, keepdims=True), v)
    for form in (model._blocked_per_head, model._blocked_batched, model.attention):
        assert relative_error(jax.jit(form)(q, k_t, v), expected) < 1e-5, form.__name__
