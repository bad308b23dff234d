"""asrperf's PyTorch Whisper: parity with openai-whisper, the same tokens as the jax port, one compile.

The agreement checks run each long-form algorithm at one batch size on both ports (and on
openai-whisper, sequential) over a minute of composed speech and a few corpus clips: the
segments (text and timestamps) and token counts must be identical, or the transcripts
within ``tolerances.MAX_TORCH_PAIRWISE_WER`` where float rounding flips a token.
"""

import numpy as np
import pytest

pytestmark = pytest.mark.cpu
torch = pytest.importorskip("torch", reason="pip install 'asrperf[torch]'")
whisper = pytest.importorskip("whisper", reason="pip install 'asrperf[torch]'")

from asrperf import tolerances  # noqa: E402
from asrperf.backends import load_pipeline  # noqa: E402
from asrperf.backends.torch_whisper import decode  # noqa: E402
from asrperf.backends.torch_whisper.params import build_model  # noqa: E402
from asrperf.bench.audio_cases import audio_case  # noqa: E402
from asrperf.errors import ConfigurationError  # noqa: E402
from asrperf.metrics import wer  # noqa: E402
from asrperf.segments import join_text  # noqa: E402
from asrperf.weights.sources import load_checkpoint, resolve_model  # noqa: E402

from .corpus_runs import agreement_utterances  # noqa: E402

# One compiled pipeline per session: the default compile mode (inductor) at batch 8. Its compile
# (half a minute or more on two cores) makes its tests calibration runs (make test); the laptop check
# (-m cpu) runs the same port eagerly, and the calibration runs show the compiled port gives the same tokens.
INDUCTOR_B8 = dict(backend="torch", batch_size=8)
# tests/test_bad_input.py and tests/test_decoding_records.py build this one too.
EAGER_B8 = dict(backend="torch", batch_size=8, compile="none")
# Sequential decodes one window at a time; eager here, so the session compiles once (the step
# is the same code at batch 1).
EAGER_SEQUENTIAL = dict(backend="torch", longform="sequential", compile="none")
CLIPS = 4


def relative_error(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def test_logits_match_openai_whisper_on_one_window():
    checkpoint = load_checkpoint(resolve_model("tiny.en"))
    dims = checkpoint.dims
    reference = whisper.model.Whisper(whisper.model.ModelDimensions(**dims))
    reference.load_state_dict({k: torch.from_numpy(v.astype(np.float32)) for k, v in checkpoint.state.items()})
    ours = build_model(checkpoint.state, dims)
    rng = np.random.default_rng(0)
    mel = torch.from_numpy(rng.standard_normal((2, dims["n_mels"], 3000)).astype(np.float32))
    tokens = torch.from_numpy(rng.integers(0, dims["n_vocab"], (2, 10)))
    with torch.no_grad():
        expected_features = reference.encoder(mel)
        expected = reference.decoder(tokens, expected_features)
        features = ours.encoder(mel)
        cache, cross = ours.decoder.empty_cache(2, 16), ours.decoder.cross_kv(features)
        steps = [ours.decoder.step(tokens[:, p], torch.tensor(p), cache, cross) for p in range(tokens.shape[1])]
        full = ours.decoder.forward_full(tokens, features)
    assert relative_error(features, expected_features) < 1e-5
    assert relative_error(full, expected) < 1e-5
    assert relative_error(torch.stack(steps, 1), expected) < 1e-5  # the cached step, one position at a time


@pytest.fixture(scope="module")
def runs(pipeline, real_corpus):
    """``runs(settings, what)`` → that pipeline's Run on "1min" (composed) or "clips" (one job), once a module."""
    inputs = {"1min": audio_case("1min").samples,
              "clips": [u.path for u in agreement_utterances(real_corpus)[:CLIPS]]}
    done = {}

    def get(settings: dict, what: str):
        key = (tuple(sorted(settings.items())), what)
        if key not in done:
            pipe = pipeline(**settings)
            done[key] = pipe.run_many(inputs[what]) if what == "clips" else pipe.run(inputs[what])
        return done[key]

    get.inputs = inputs
    return get


def _agree(ours, theirs, what: str) -> None:
    """Identical segments and token counts; else within the pairwise WER float rounding may cost."""
    if ours.segments == theirs.segments and ours.tokens == theirs.tokens:
        return
    pairs = list(zip(ours.segments, theirs.segments)) if what == "clips" else [(ours.segments, theirs.segments)]
    pairwise = wer([join_text(b) for _, b in pairs], [join_text(a) for a, _ in pairs])
    assert pairwise <= tolerances.MAX_TORCH_PAIRWISE_WER, f"{what}: pairwise WER {pairwise:.4f}"


@pytest.mark.parametrize("what", ["1min", "clips"])
@pytest.mark.parametrize("ours,theirs", [
    (EAGER_B8, dict(backend="jax", batch_size=8)),
    (EAGER_SEQUENTIAL, dict(backend="jax", longform="sequential")),
    (EAGER_SEQUENTIAL, dict(backend="openai-whisper")),
], ids=["jax-chunked-b8", "jax-sequential", "openai-whisper-sequential"])
def test_same_tokens_as_the_same_algorithm_elsewhere(runs, ours, theirs, what):
    _agree(runs(ours, what), runs(theirs, what), what)


@pytest.mark.calibration
def test_eager_and_inductor_give_the_same_tokens(runs, pipeline):
    compiled, eager = runs(INDUCTOR_B8, "1min"), runs(EAGER_B8, "1min")
    assert (compiled.segments, compiled.tokens) == (eager.segments, eager.tokens)
    described = pipeline(**INDUCTOR_B8).describe()
    assert (described["compile"], described["freezing"]) == ("inductor", True)
    assert pipeline(**INDUCTOR_B8).compiler.compile_s > 0  # its buckets, compiled as first needed
    assert pipeline(**EAGER_B8).describe()["compile"] == "none" and pipeline(**EAGER_B8).compiler.compile_s == 0


@pytest.mark.calibration
def test_a_window_alone_and_in_a_batch_gets_the_same_tokens(runs, pipeline):
    """One clip alone (bucket 1) and among the other clips in one batch; once a bucket is compiled,
    nothing recompiles.

    Every step takes its position as a 0-d tensor: a Python int would compile a graph per step.
    """
    from torch._dynamo.utils import counters

    together = runs(INDUCTOR_B8, "clips")
    pipe = pipeline(**INDUCTOR_B8)
    alone = pipe.run(runs.inputs["clips"][1])  # compiles bucket 1, if no test did before
    assert alone.segments == together.segments[1] and alone.tokens > 5
    assert alone.extra["decoder_rows"] == 1
    graphs = counters["stats"]["unique_graphs"]
    with torch._dynamo.config.patch(error_on_recompile=True):
        again = pipe.run(runs.inputs["clips"][1])
        batched = pipe.run_many(runs.inputs["clips"])
    assert again.segments == alone.segments and batched.segments == together.segments
    assert again.extra["bucket_compile_s"] == batched.extra["bucket_compile_s"] == {}
    assert counters["stats"]["unique_graphs"] == graphs


def test_step_count_is_bounded_by_the_token_limit():
    spec_tokens = []

    def step(tokens, position, done, max_ts, cache, cross):
        spec_tokens.append(int(position))
        tokens[:, int(position) + 1] = 1  # never end-of-text
        return done, max_ts

    from asrperf.config import DecodingSettings
    from asrperf.token_rules import token_spec

    tokenizer = whisper.tokenizer.get_tokenizer(False)
    spec = token_spec(tokenizer, DecodingSettings(max_new_tokens=5), 51864, 448)
    tokens, n_tokens, hit_max = decode.generate(step, spec, [], [], torch.ones(2, dtype=torch.bool))
    assert spec_tokens == list(range(spec.length - 1)) and n_tokens.tolist() == [5, 5] and hit_max.all()


@pytest.mark.parametrize("options,match", [
    (dict(compile="jit"), "compile option"),
    (dict(longform="sequential", batch_size=8), "one window at a time"),
    (dict(dtype="float16"), "does not support dtype"),
])
def test_bad_options_are_configuration_errors(options, match):
    with pytest.raises(ConfigurationError, match=match):
        load_pipeline("torch", "tiny.en", **options)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_gpu_half_precision_with_cuda_graphs(pipeline, dtype):
    """Written without a GPU at hand: half precision on the GPU, compiled with CUDA graphs, still transcribes."""
    pipe = pipeline("torch", "tiny.en", "gpu", dtype, 8)
    described = pipe.describe()
    assert "reduce-overhead" in described["compile_options"] and not described["freezing"]
    one_minute = audio_case("1min")
    assert wer(one_minute.reference, join_text(pipe.transcribe(one_minute.samples))) <= \
        tolerances.MAX_WER_JAX_ONE_MINUTE
