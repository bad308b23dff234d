"""The ``jax`` backend: asrperf's JAX Whisper behind the common Pipeline API.

Device choice goes through ``jax.devices(platform)`` and explicit placement, never
through environment variables (setting ``JAX_PLATFORM_NAME`` after jax is imported,
as the article did, silently does nothing). With several devices of the platform
the batch axis is sharded over a one-axis mesh and parameters are replicated.
The step function is compiled ahead of time for the fixed batch shape, so compile
time is measured on its own and no call ever recompiles.

Long-form: ``chunked`` (native) is whisper-jax's recipe (30 s chunks every 20 s,
batched, seams merged); ``sequential`` is openai-whisper's seek loop
(``asrperf.sequential``) around the same decoder, one window at a time, on
openai-whisper's whole-audio log-mel (``whole_mel``).
"""

from __future__ import annotations

import math
import time
from functools import partial
from pathlib import Path

import numpy as np

from ...batch_buckets import BucketLog, bucket_for, bucket_sizes
from ...config import PipelineConfig
from ...decoding_record import DecodingRecord
from ...errors import ConfigurationError, DeviceUnavailableError
from ...hardware import cpu_threads
from ...file_batches import transcribe_in_batches
from ...segments import Segment
from ...sequential import N_FRAMES, seek_loop, transcript
from ...token_rules import batch_pieces, decoding_record
from ...weights.sources import checkpoint_fingerprint, load_checkpoint, resolve_model
from ..base import Pipeline, RunStats
from ..devices import check_dtype, jax_full_float32

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
            "or install jax with CUDA support (make setup GPU=1) on a GPU machine"
        ) from None


class JaxWhisperPipeline(Pipeline):
    backend_name = "jax"

    def __init__(self, config: PipelineConfig):
        import jax
        import jax.numpy as jnp
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        from . import decode, model, multihost, whole_mel
        from .executables import ExecutableStore
        from .params import decoder_layout_for, params_from_state, with_decoder_layout
        from ...tokenizer import tokenizer_for_model

        dtype = config.dtype or ("float16" if config.device == "gpu" else "float32")
        super().__init__(config, check_dtype(self.backend_name, dtype, _DTYPES, config.device))
        self.devices = jax_devices(config.device)
        self.matmul_precision = jax_full_float32(config.device, self.dtype)  # before anything is traced
        self.longform = config.longform or "chunked"
        if self.longform == "sequential" and config.batch_size not in (None, 1):
            raise ConfigurationError("the jax backend's sequential long-form decodes one window at a time; use "
                                     "batch_size=None, or longform='chunked' to batch windows")
        self.processes = jax.process_count()  # > 1 after asrperf.distributed.initialize
        if self.processes > 1 and self.longform == "sequential":
            raise ConfigurationError(f"this process is one of {self.processes} (jax.distributed), which share "
                                     "each batch; the sequential long-form decodes one window at a time, so use "
                                     "longform='chunked'")
        self._multihost = multihost
        # XLA's CPU thread pool sizes itself from the process's CPU affinity when JAX starts;
        # it takes no thread count, so a different one cannot be honoured here.
        self.threads = cpu_threads()
        if config.threads and config.threads != self.threads:
            raise ConfigurationError(
                f"threads={config.threads} was requested, but XLA's CPU threads follow the process's CPU "
                f"affinity, which allows {self.threads}: narrow the affinity before JAX starts "
                "(--asrperf-threads, taskset, or os.sched_setaffinity), or leave threads unset")
        requested = config.batch_size or 1
        # Each device gets the same share of the batch (across processes too: jax.devices() is global).
        self.batch = math.ceil(requested / len(self.devices)) * len(self.devices)
        self.batches_across_files = self.longform == "chunked" and self.batch > 1
        # A short batch runs in the smallest compiled size that holds it (``asrperf.batch_buckets``).
        self.buckets = (bucket_sizes(self.batch, len(self.devices)) if self.longform == "chunked"
                        else (self.batch,))

        if config.compilation_cache_dir:
            jax.config.update("jax_compilation_cache_dir", str(config.compilation_cache_dir))
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
            jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)

        self.resolved = resolve_model(config.model)
        checkpoint = load_checkpoint(self.resolved)
        self.weights_sha256 = checkpoint_fingerprint(self.resolved, checkpoint)
        dims = checkpoint.dims
        self.tokenizer = tokenizer_for_model(dims["n_vocab"], config.decoding.language, config.decoding.task)
        self.spec = decode.token_spec(self.tokenizer, config.decoding, dims["n_vocab"], dims["n_text_ctx"])
        self._decode = decode

        mesh = Mesh(np.array(self.devices), ("batch",))
        replicated = NamedSharding(mesh, PartitionSpec())
        self._batch_sharding = NamedSharding(mesh, PartitionSpec("batch"))
        compute = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}[dtype]
        layout = decoder_layout_for(config.device, rows_per_device=self.batch // len(self.devices))
        self.params = params_from_state(checkpoint.state, dims, compute, decoder_layout=layout, device=replicated)
        # A bucket with fewer rows per device may want the other decoder layout: built from the
        # checkpoint when that bucket is first compiled, and the checkpoint is then let go.
        other_layouts = {decoder_layout_for(config.device, b // len(self.devices)) for b in self.buckets} - {layout}
        self._params_by_layout = {layout: self.params}
        self._relayout = partial(with_decoder_layout, self.params, checkpoint.state, dims, compute,
                                 device=replicated) if other_layouts else None
        self._layout_for = lambda rows: decoder_layout_for(config.device, rows // len(self.devices))
        filters = multihost.put_replicated(model.mel_filters(dims["n_mels"]), replicated)

        def encode(params, filters, audio):
            return model.encode(params, model.log_mel(audio, filters), dims["n_audio_head"], compute)

        def encode_mel(params, mel):
            return model.encode(params, mel, dims["n_audio_head"], compute)

        def generate(params, features, valid):
            return decode.generate(params, features, valid, self.spec, dims["n_text_head"])

        # The encoder runs in micro-batches: on CPU its activations for several 30 s windows
        # at once outgrow the caches (measured on a 2-core EPYC, per window: 0.47 s one at a
        # time, 0.53 s two at a time, 0.56 s four at a time), and a final batch of 7 real
        # windows then costs 7 encoder passes, not 8. The decoder, whose steps are small,
        # takes the whole bucket. Each is compiled ahead of time for its fixed shape.
        per_device = _CPU_ENCODER_WINDOWS_PER_DEVICE if config.device == "cpu" else self.batch
        self.encoder_batch = min(self.batch, per_device * len(self.devices))
        while self.batch % self.encoder_batch:
            self.encoder_batch -= len(self.devices)
        if self.longform == "sequential":
            self.encoder_batch = self.batch  # one real window, the rest (one per further device) padding
        self._jax, self._dims, self._compute, self._filters = jax, dims, compute, filters
        self._replicated = replicated
        self._functions = {"encode": encode, "encode_mel": encode_mel, "generate": generate,
                           "raw_log_mel": whole_mel.raw_log_mel}
        # Whole executables from an earlier process skip tracing and lowering (see ``executables``).
        # Not with several processes: each would write the same files, and each executable is one process's part.
        self._executables = ExecutableStore(
            Path(config.compilation_cache_dir) / "asrperf-executables"
            if config.compilation_cache_dir and self.processes == 1 else None,
            self.devices, program={"config": config.as_record(), "dims": dims, "spec": repr(self.spec),
                                   "compute": dtype, "batch": self.batch, "longform": self.longform})
        self._cache_events = _CacheEventCounter()
        self._compiled: dict[tuple, object] = {}  # (name, rows, layout) -> executable
        self.compile_s = 0.0  # in this constructor; buckets compiled later are in their call's Run
        if self.longform == "sequential":
            started = time.perf_counter()
            self._compile_sequential()
            self.compile_s = time.perf_counter() - started
        self.output_devices: set = set()

    # ---------------------------------------------------------------- compiled programs

    def _compile(self, name: str, rows: int, layout, *args):
        """``self._functions[name]`` compiled (or loaded) for ``args``, once per (name, rows, layout)."""
        key = (name, rows, layout)
        if key not in self._compiled:
            jax, batch, replicated = self._jax, self._batch_sharding, self._replicated
            shardings = {"encode": (replicated, replicated, batch), "encode_mel": (replicated, batch),
                         "generate": (replicated, batch, batch), "raw_log_mel": (replicated, replicated)}[name]
            out = replicated if name == "raw_log_mel" else batch
            function = self._functions[name]
            jax.monitoring.register_event_listener(self._cache_events)
            try:
                self._compiled[key] = self._executables.compile(
                    f"{name}-{rows}-{layout.value}", jax.jit(function, in_shardings=shardings, out_shardings=out),
                    *args)
            finally:
                jax.monitoring.unregister_event_listener(self._cache_events)
        return self._compiled[key]

    def _params_for(self, layout):
        if layout not in self._params_by_layout:
            self._params_by_layout[layout] = self._relayout(layout)
            if set(self._params_by_layout) >= {self._layout_for(b) for b in self.buckets}:
                self._relayout = None  # every layout built: the checkpoint can go
        return self._params_by_layout[layout]

    def _compile_sequential(self) -> None:
        """The seek loop's three programs: log-mel blocks, encoder on a log-mel window, decoder."""
        from . import model, whole_mel

        jnp, dims, layout = self._jax.numpy, self._dims, self.params.decoder_layout
        mel_shape = self._shape((self.batch, dims["n_mels"], model.N_FRAMES), jnp.float32)
        encode = self._compile("encode_mel", self.batch, layout, self.params, mel_shape)
        block_shape = self._shape((1, whole_mel.BLOCK_SAMPLES), jnp.float32, self._replicated)
        raw_mel = self._compile("raw_log_mel", 1, layout, block_shape, self._filters)
        generate = self._compile("generate", self.batch, layout, self.params, *self._decoder_shapes(self.batch))
        self._raw_mel = lambda block: raw_mel(block, self._filters)
        self._encode = partial(encode, self.params)
        self._generate = partial(generate, self.params)

    def _shape(self, shape, dtype, sharding=None):
        return self._jax.ShapeDtypeStruct(shape, dtype, sharding=sharding or self._batch_sharding)

    def _decoder_shapes(self, rows: int) -> tuple:
        dims = self._dims
        return (self._shape((rows, dims["n_audio_ctx"], dims["n_audio_state"]), self._compute),
                self._shape((rows,), self._jax.numpy.bool_))

    def _bucket(self, rows: int, log: BucketLog):
        """(encode, micro-batch, padding features, generate) for a bucket of ``rows``, compiled on first use."""
        from . import model

        jnp, dims = self._jax.numpy, self._dims
        micro = min(self.encoder_batch, rows)
        layout = self._layout_for(rows)
        started, before = time.perf_counter(), len(self._compiled)
        params = self._params_for(layout)
        encode = self._compile("encode", micro, self.params.decoder_layout, self.params, self._filters,
                               self._shape((micro, model.CHUNK_SAMPLES), jnp.float32))
        generate = self._compile("generate", rows, layout, params, *self._decoder_shapes(rows))
        if len(self._compiled) > before:
            log.compile_s[rows] = log.compile_s.get(rows, 0.0) + time.perf_counter() - started
        if ("padding", micro) not in self._compiled:
            # Stands in for the encoder output of micro-batches that are all padding. Made on the
            # host: jnp.zeros would dispatch (and, in a fresh process, compile) a broadcast.
            self._compiled[("padding", micro)] = self._multihost.put_batch(
                np.zeros((micro, dims["n_audio_ctx"], dims["n_audio_state"]), np.dtype(self._compute)),
                self._batch_sharding)
        return (partial(encode, self.params, self._filters), micro, self._compiled[("padding", micro)],
                partial(generate, params))

    @property
    def executables_loaded(self) -> int:
        """Of the programs compiled so far, how many came whole from disk."""
        return self._executables.loaded

    @property
    def compilation_cache(self) -> str:
        """"off" (no cache directory), "hit" (every program so far came from a cache), else "miss"."""
        if not self.config.compilation_cache_dir:
            return "off"
        counts = self._cache_events.counts
        return "hit" if not self._executables.compiled or (counts["hits"] and not counts["misses"]) else "miss"

    # ---------------------------------------------------------------- one batch

    def _step(self, audio: np.ndarray, n_valid: int, log: BucketLog):
        """The first ``n_valid`` of [rows, 480000] windows → (tokens, counts, hit-max flags), on device."""
        jax, rows = self._jax, len(audio)
        encode, micro, padding, generate = self._bucket(rows, log)
        put = partial(self._multihost.put_batch, sharding=self._batch_sharding)  # this process's rows only
        features = [
            encode(put(audio[i : i + micro])) if i < n_valid
            else padding  # nothing real in this micro-batch: skip the encoder
            for i in range(0, rows, micro)
        ]
        features = features[0] if len(features) == 1 else jax.device_put(
            jax.numpy.concatenate(features), self._batch_sharding)
        return generate(features, put(np.arange(rows) < n_valid))

    def _transcribe(self, samples: np.ndarray, stats: RunStats) -> list[Segment]:
        if self.longform == "sequential":
            segments = self._sequential(samples, stats)
        else:
            segments = self._chunked_files([samples], stats, lambda index: None)[0]
        stats.decoding = self.decoding_record()  # the compiled program's rules: the same every call
        return segments

    def _sequential(self, samples: np.ndarray, stats: RunStats) -> list[Segment]:
        """openai-whisper's seek loop, each window through the compiled encoder and decoder."""
        from . import whole_mel

        jax = self._jax
        blocks, content_frames = whole_mel.blocks(samples)
        raw = [np.asarray(self._raw_mel(blocks[b : b + 1]))[0] for b in range(len(blocks))]
        mel = whole_mel.normalise(raw, content_frames)
        prompt = len(self.spec.prompt)
        window = np.zeros((self.batch, mel.shape[0], N_FRAMES), np.float32)
        valid = jax.device_put(np.arange(self.batch) < 1, self._batch_sharding)

        def decode_window(seek: int, frames: int) -> np.ndarray:
            # openai-whisper pads a short last window's log-mel with zeros, not with silence's log-mel.
            window[0] = 0.0
            window[0, :, :frames] = mel[:, seek : seek + frames]
            features = self._encode(jax.device_put(window, self._batch_sharding))
            tokens, n_tokens, hit_max = jax.block_until_ready(self._generate(features, valid))
            self.output_devices = {d for d in tokens.devices()}
            n = int(np.asarray(n_tokens)[0])
            stats.tokens += n
            stats.max_length_hits += int(np.asarray(hit_max)[0])
            return np.asarray(tokens)[0, prompt : prompt + n]

        pieces, stats.windows = seek_loop(content_frames, decode_window, self.spec.timestamp_begin)
        return transcript(pieces, self.tokenizer.decode, self.spec.eot, stats.audio_s)

    def _transcribe_many(self, files, totals: RunStats, on_file_done) -> list[list[Segment]]:
        if self.longform == "sequential":
            return super()._transcribe_many(files, totals, on_file_done)
        segments = self._chunked_files(files, totals, on_file_done)
        totals.decoding = self.decoding_record()
        return segments

    def _chunked_files(self, files, stats: RunStats, on_file_done) -> list[list[Segment]]:
        """whisper-jax's chunks of every file, ``self.batch`` windows per compiled call (``file_batches``)."""
        if self.processes > 1:
            # Every process must run the same batches: check that all hold the same audio before the
            # first batch, or one missing or different file would leave the others waiting for it.
            files = self._multihost.agreed_inputs(files)
        log = BucketLog()
        segments = transcribe_in_batches(files, self.batch, partial(self._decode_windows, stats, log), on_file_done)
        stats.extra.update(log.as_extra())
        return segments

    def _decode_windows(self, stats: RunStats, log: BucketLog, windows: list[np.ndarray]) -> list[list]:
        from . import model

        # A short batch is padded with silent windows to its bucket's size: no recompilation.
        rows = bucket_for(len(windows), self.buckets)
        audio = np.zeros((rows, model.CHUNK_SAMPLES), np.float32)
        for row, window in enumerate(windows):
            audio[row, : len(window)] = window
        tokens, n_tokens, hit_max = self._jax.block_until_ready(self._step(audio, len(windows), log))
        log.ran(rows, len(windows))
        self.output_devices = {d for d in tokens.devices()}
        # With several processes each holds its rows only: the (small) outputs are gathered to all.
        tokens, n_tokens, hit_max = (self._multihost.to_host(x) for x in (tokens, n_tokens, hit_max))
        return batch_pieces(tokens, n_tokens, hit_max, len(windows), self.spec, self.tokenizer.decode, stats)

    def decoding_record(self) -> DecodingRecord:
        """What the compiled decoder runs: its TokenSpec, and greedy argmax (the only rule ``generate`` has)."""
        return decoding_record(self.spec, self.tokenizer.decode)

    def describe(self) -> dict:
        info = super().describe()
        info["batch_size"] = self.config.batch_size
        info.update(effective_batch=self.batch, encoder_batch=self.encoder_batch, jax_devices=len(self.devices),
                    jax_processes=self.processes, batch_buckets=list(self.buckets),
                    compile_s=round(self.compile_s, 3), compilation_cache=self.compilation_cache,
                    executables_loaded=self.executables_loaded,
                    longform=self.longform,
                    longform_detail=("openai-whisper's seek loop, one 30 s window at a time, whole-audio log-mel"
                                     if self.longform == "sequential" else
                                     f"30 s chunks every 20 s (5 s strides, whisper-jax's), up to {self.batch} per "
                                     "decoder batch (the smallest compiled bucket that holds them), seams merged"),
                    threads=self.threads, threads_source="XLA CPU thread pool: the process's CPU affinity")
        return info


def build(config: PipelineConfig) -> JaxWhisperPipeline:
    return JaxWhisperPipeline(config)
