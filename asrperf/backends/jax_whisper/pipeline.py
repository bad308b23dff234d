"""The ``jax`` backend: asrperf's JAX Whisper behind the common Pipeline API.

Device choice goes through ``jax.devices(platform)`` and explicit placement, never
through environment variables (setting ``JAX_PLATFORM_NAME`` after jax is imported,
as the article did, silently does nothing). With several devices of the platform
the batch axis is sharded over a one-axis mesh and parameters are replicated.
The step function is compiled ahead of time for the fixed batch shape, so compile
time is measured on its own and no call ever recompiles.
"""

from __future__ import annotations

import math
import time
from functools import partial

import numpy as np

from ...config import PipelineConfig
from ...errors import DeviceUnavailableError
from ...longform import SAMPLE_RATE, merge_chunks, plan_chunks
from ...segments import Segment, make_segment
from ...weights.sources import load_checkpoint, resolve_model
from ..base import Pipeline
from ..devices import check_dtype

_DTYPES = {"cpu": ("float32", "bfloat16"), "gpu": ("float16", "bfloat16", "float32")}
_CPU_ENCODER_WINDOWS_PER_DEVICE = 1
_CACHE_EVENTS = {"/jax/compilation_cache/cache_hits": "hits", "/jax/compilation_cache/cache_misses": "misses"}


class _CacheEventCounter:
    """Counts JAX persistent-cache hits and misses while it is active."""

    def __init__(self):
        self.counts = {"hits": 0, "misses": 0}

    def __call__(self, event: str, **_kwargs) -> None:
        if event in _CACHE_EVENTS:
            self.counts[_CACHE_EVENTS[event]] += 1


def jax_devices(device: str):
    import jax

    platform = "gpu" if device == "gpu" else "cpu"
    try:
        return jax.devices(platform)
    except RuntimeError:
        raise DeviceUnavailableError(
            f"device={device!r} was requested but JAX has no {platform} backend here "
            f"(available: {', '.join(sorted({d.platform for d in jax.devices()}))}); use device='cpu', "
            "or install jax with CUDA support (pip install 'asrperf[jax-cuda]') on a GPU machine"
        ) from None


class JaxWhisperPipeline(Pipeline):
    backend_name = "jax"

    def __init__(self, config: PipelineConfig):
        import jax
        import jax.numpy as jnp
        from jax.sharding import Mesh, NamedSharding, PartitionSpec
        from whisper.tokenizer import get_tokenizer

        from . import decode, model

        dtype = config.dtype or ("float16" if config.device == "gpu" else "float32")
        super().__init__(config, check_dtype(self.backend_name, dtype, _DTYPES, config.device))
        self.devices = jax_devices(config.device)
        requested = config.batch_size or 1
        # Each device gets the same share of the batch.
        self.batch = math.ceil(requested / len(self.devices)) * len(self.devices)

        if config.compilation_cache_dir:
            jax.config.update("jax_compilation_cache_dir", str(config.compilation_cache_dir))
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
            jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)

        self.resolved = resolve_model(config.model)
        checkpoint = load_checkpoint(self.resolved)
        self.weights_sha256 = checkpoint.fingerprint()
        dims = checkpoint.dims
        multilingual = not checkpoint.english_only
        self.tokenizer = get_tokenizer(
            multilingual, num_languages=dims["n_vocab"] - 51765 - int(multilingual),
            language=config.decoding.language if multilingual else "en", task=config.decoding.task,
        )
        self.spec = decode.token_spec(self.tokenizer, config.decoding, dims["n_vocab"], dims["n_text_ctx"])
        self._decode = decode

        mesh = Mesh(np.array(self.devices), ("batch",))
        replicated = NamedSharding(mesh, PartitionSpec())
        self._batch_sharding = NamedSharding(mesh, PartitionSpec("batch"))
        compute = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}[dtype]
        with jax.default_device(self.devices[0]):
            # Multiply-and-reduce decoder products pay off on CPU with several rows per device.
            rows_out = config.device == "cpu" and self.batch // len(self.devices) >= 2
            params = model.params_from_state(checkpoint.state, dims, compute, decoder_rows_out=rows_out)
        self.params = jax.device_put(params, replicated)
        filters = jax.device_put(jnp.asarray(model.mel_filters(dims["n_mels"])), replicated)

        def encode(params, filters, audio):
            return model.encode(params, model.log_mel(audio, filters), dims["n_audio_head"], compute)

        def generate(params, features, valid):
            return decode.generate(params, features, valid, self.spec, dims["n_text_head"])

        # The encoder runs in micro-batches: on CPU its activations for several 30 s windows
        # at once outgrow the caches (measured on a 2-core EPYC, per window: 0.47 s one at a
        # time, 0.53 s two at a time, 0.56 s four at a time), and a final batch of 7 real
        # windows then costs 7 encoder passes, not 8. The decoder, whose steps are small,
        # takes the whole batch. Both are compiled once, ahead of time, for their fixed shapes.
        per_device = _CPU_ENCODER_WINDOWS_PER_DEVICE if config.device == "cpu" else self.batch
        self.encoder_batch = min(self.batch, per_device * len(self.devices))
        while self.batch % self.encoder_batch:
            self.encoder_batch -= len(self.devices)
        width = dims["n_audio_state"]
        audio_shape = jax.ShapeDtypeStruct((self.encoder_batch, model.CHUNK_SAMPLES), jnp.float32,
                                           sharding=self._batch_sharding)
        feature_shape = jax.ShapeDtypeStruct((self.batch, dims["n_audio_ctx"], width), compute,
                                             sharding=self._batch_sharding)
        valid_shape = jax.ShapeDtypeStruct((self.batch,), jnp.bool_, sharding=self._batch_sharding)
        counter = _CacheEventCounter()
        jax.monitoring.register_event_listener(counter)
        try:
            started = time.perf_counter()
            encode_compiled = jax.jit(
                encode, in_shardings=(replicated, replicated, self._batch_sharding),
                out_shardings=self._batch_sharding).lower(self.params, filters, audio_shape).compile()
            generate_compiled = jax.jit(
                generate, in_shardings=(replicated, self._batch_sharding, self._batch_sharding),
                out_shardings=self._batch_sharding).lower(self.params, feature_shape, valid_shape).compile()
            self.compile_s = time.perf_counter() - started
        finally:
            jax.monitoring.unregister_event_listener(counter)
        self.compilation_cache = (
            "off" if not config.compilation_cache_dir
            else "hit" if counter.counts["hits"] and not counter.counts["misses"] else "miss"
        )
        self._encode = partial(encode_compiled, self.params, filters)
        self._generate = partial(generate_compiled, self.params)
        # Stands in for the encoder output of micro-batches that are all padding.
        self._padding_features = jax.device_put(
            jnp.zeros((self.encoder_batch, dims["n_audio_ctx"], width), compute), self._batch_sharding)
        self._jax = jax
        self.output_devices: set = set()

    def _step(self, audio: np.ndarray, n_valid: int):
        """The first ``n_valid`` of [batch, 480000] windows → (tokens, counts, hit-max flags), on device."""
        jax, step = self._jax, self.encoder_batch
        features = [
            self._encode(jax.device_put(audio[i : i + step], self._batch_sharding)) if i < n_valid
            else self._padding_features  # nothing real in this micro-batch: skip the encoder
            for i in range(0, self.batch, step)
        ]
        features = features[0] if len(features) == 1 else jax.device_put(
            jax.numpy.concatenate(features), self._batch_sharding)
        valid = jax.device_put(np.arange(self.batch) < n_valid, self._batch_sharding)
        return self._generate(features, valid)

    def _transcribe(self, samples: np.ndarray) -> list[Segment]:
        from . import model

        chunks = plan_chunks(len(samples))
        outputs: list[list[Segment]] = []
        window = model.CHUNK_SAMPLES
        for first in range(0, len(chunks), self.batch):
            group = chunks[first : first + self.batch]
            # The last batch is padded with silent chunks to the fixed size: no recompilation.
            audio = np.zeros((self.batch, window), np.float32)
            for row, chunk in enumerate(group):
                audio[row, : chunk.end - chunk.start] = samples[chunk.start : chunk.end]
            tokens, n_tokens, hit_max = self._jax.block_until_ready(self._step(audio, len(group)))
            self.output_devices = {d for d in tokens.devices()}
            tokens, n_tokens, hit_max = np.asarray(tokens), np.asarray(n_tokens), np.asarray(hit_max)
            prompt = len(self.spec.prompt)
            for row, chunk in enumerate(group):
                sampled = tokens[row, prompt : prompt + n_tokens[row]]
                self.last_run.tokens += int(n_tokens[row])
                self.last_run.max_length_hits += int(hit_max[row])
                chunk_end = (chunk.end - chunk.start) / SAMPLE_RATE
                outputs.append([
                    make_segment(chunk.offset_s + (start or 0.0),
                                 chunk.offset_s + min(end if end is not None else chunk_end, chunk_end),
                                 text, fallback_end=chunk.offset_s + chunk_end)
                    for start, end, text in self._decode.split_segments(sampled, self.spec, self.tokenizer.decode)
                ])
        self.last_run.windows = len(chunks)
        self.last_run.extra = {"compile_s": self.compile_s, "compilation_cache": self.compilation_cache}
        return merge_chunks(chunks, outputs, self.last_run.audio_s)

    def describe(self) -> dict:
        info = super().describe()
        info["batch_size"] = self.config.batch_size
        info.update(effective_batch=self.batch, encoder_batch=self.encoder_batch, jax_devices=len(self.devices),
                    compile_s=round(self.compile_s, 3), compilation_cache=self.compilation_cache,
                    longform="chunked 30s, stride 5s (whisper-jax)")
        return info


def build(config: PipelineConfig) -> JaxWhisperPipeline:
    return JaxWhisperPipeline(config)
