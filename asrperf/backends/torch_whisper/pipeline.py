"""The ``torch`` backend: asrperf's PyTorch Whisper behind the common Pipeline API.

Built as the ``jax`` backend is, so that the two differ in framework and not in engineering:
fixed batch buckets (a short batch is padded to the smallest that holds it, padding rows start
finished: ``asrperf.batch_buckets``), the encoder one window at a time on CPU,
cross-attention keys and values once per window, a static cache, the same token rules;
``compile="inductor"`` compiles encoder and decode step once per bucket, when it is first
needed, at the thread count being measured (``compiler``).

Long-form: ``chunked`` (native) is whisper-jax's plan (30 s chunks every 20 s, batched across
files, seams merged: ``asrperf.file_batches``); ``sequential`` is openai-whisper's seek loop
(``asrperf.sequential``) on openai-whisper's whole-audio log-mel, one window at a time.
The log-mel is openai-whisper's own function, as the openai-whisper backend computes it.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from ...batch_buckets import BucketLog, bucket_for, bucket_sizes
from ...config import PipelineConfig
from ...decoding_record import DecodingRecord
from ...errors import ConfigurationError
from ...file_batches import transcribe_in_batches
from ...hardware import cpu_threads
from ...segments import Segment
from ...sequential import N_FRAMES, seek_loop, transcript
from ...token_rules import batch_pieces, decoding_record, token_spec
from ...weights.sources import checkpoint_fingerprint, load_checkpoint, resolve_model
from ..base import Pipeline, RunStats
from ..devices import check_dtype, synchronize, torch_device, torch_full_float32
from .compiler import Compiler, check_mode

_DTYPES = {"cpu": ("float32",), "gpu": ("float16", "bfloat16", "float32")}
_TORCH_DTYPES = {"float32": "float32", "float16": "float16", "bfloat16": "bfloat16"}
_WINDOW_SAMPLES = 30 * 16_000
# Encoder windows per call on CPU: one at a time, as the jax port does (measured there: several
# windows' activations outgrow the caches, and a short batch then costs only its real windows).
_CPU_ENCODER_BATCH = 1


class TorchWhisperPipeline(Pipeline):
    backend_name = "torch"

    def __init__(self, config: PipelineConfig):
        import torch
        import whisper

        from . import decode
        from .params import build_model

        self._device = torch_device(config.device)
        dtype = config.dtype or ("float16" if config.device == "gpu" else "float32")
        super().__init__(config, check_dtype(self.backend_name, dtype, _DTYPES, config.device))
        self.matmul_precision = torch_full_float32(self._device, self.dtype)
        self.longform = config.longform or "chunked"
        if self.longform == "sequential" and config.batch_size not in (None, 1):
            raise ConfigurationError("the torch backend's sequential long-form decodes one window at a time; use "
                                     "batch_size=None, or longform='chunked' to batch windows")
        self.batch = config.batch_size or 1
        self.batches_across_files = self.longform == "chunked" and self.batch > 1
        # A short batch runs in the smallest compiled size that holds it (``asrperf.batch_buckets``).
        self.buckets = bucket_sizes(self.batch) if self.longform == "chunked" else (self.batch,)
        self.compile_mode = check_mode(config.compile or "inductor")
        # Before anything is compiled: Inductor builds its CPU kernels for this thread count.
        torch.set_num_threads(config.threads or cpu_threads())
        self._torch, self._whisper, self._decode = torch, whisper, decode

        self.resolved = resolve_model(config.model)
        checkpoint = load_checkpoint(self.resolved)
        self.weights_sha256 = checkpoint_fingerprint(self.resolved, checkpoint)
        dims = self.dims = checkpoint.dims
        self.model = build_model(checkpoint.state, dims, getattr(torch, _TORCH_DTYPES[self.dtype]), self._device)
        multilingual = dims["n_vocab"] >= 51865
        self.tokenizer = whisper.tokenizer.get_tokenizer(
            multilingual, num_languages=dims["n_vocab"] - 51765 - int(multilingual),
            language=config.decoding.language if multilingual else "en", task=config.decoding.task)
        self.spec = token_spec(self.tokenizer, config.decoding, dims["n_vocab"], dims["n_text_ctx"])
        self.encoder_batch = _CPU_ENCODER_BATCH if self._device == "cpu" else self.batch
        self.compiler = Compiler(self.compile_mode, self._device, config.compilation_cache_dir)
        self._encoder = self.compiler.compile(self.model.encoder)
        self._cross_kv = self.compiler.compile(self.model.decoder.cross_kv)
        self._step = self.compiler.compile(decode.GreedyStep(self.model.decoder, self.spec))
        self._buffers: dict[int, tuple] = {}  # bucket size -> (decoder cache, features), made on first use
        if self.longform == "sequential":
            self._bucket(self.batch, BucketLog())  # its one bucket, compiled here as the jax port does
        self.compile_s = self.compiler.compile_s  # in this constructor; later buckets are in their call's Run

    def _bucket(self, rows: int, log: BucketLog) -> tuple:
        """A bucket's preallocated decoder cache and features, its functions compiled on first use.

        The cache is masked past the current position, so stale entries from the previous batch are
        harmless; padding rows' features stay silent.
        """
        if rows not in self._buffers:
            torch, dims = self._torch, self.dims
            cache = self.model.decoder.empty_cache(rows, self.spec.length)
            features = torch.zeros((rows, dims["n_audio_ctx"], dims["n_audio_state"]),
                                   dtype=self.model.decoder.tok.weight.dtype, device=self._device)
            if self.compile_mode != "none":
                before = self.compiler.compile_s
                micro = min(self.encoder_batch, rows)
                with torch.no_grad(), self.compiler.compiling():
                    self._encoder(torch.zeros((micro, dims["n_mels"], N_FRAMES), device=self._device))
                    valid = torch.ones(rows, dtype=torch.bool, device=self._device)
                    self._decode.generate(self._step, self.spec, cache, self._cross_kv(features), valid, max_steps=2)
                log.compile_s[rows] = self.compiler.compile_s - before
            self._buffers[rows] = cache, features
        return self._buffers[rows]

    @property
    def compilation_cache(self) -> str:
        return self.compiler.cache

    # ---------------------------------------------------------------- one batch

    def _log_mel(self, window: np.ndarray):
        """One window's log-mel [n_mels, 3000], normalised on its own (a batch would share one maximum)."""
        padded = np.zeros(_WINDOW_SAMPLES, np.float32)
        padded[: len(window)] = window
        return self._whisper.log_mel_spectrogram(self._torch.from_numpy(padded), self.dims["n_mels"])

    def _generate(self, mels: list, log: BucketLog):
        """Each window's log-mel (each [n_mels, 3000]) → (tokens, counts, hit-max flags) on the host,
        in the smallest bucket that holds them."""
        torch, n_valid = self._torch, len(mels)
        rows = bucket_for(n_valid, self.buckets)
        cache, features = self._bucket(rows, log)
        micro = min(self.encoder_batch, rows)
        with torch.no_grad():
            features[n_valid:] = 0  # padding rows: no encoder pass, silent features, finished from the start
            for start in range(0, n_valid, micro):
                group = mels[start : start + micro]
                mel = torch.zeros((micro, *group[0].shape), device=self._device)
                mel[: len(group)] = torch.stack(group).to(self._device)
                features[start : start + len(group)] = self._encoder(mel)[: len(group)]
            valid = torch.arange(rows, device=self._device) < n_valid
            tokens, n_tokens, hit_max = self._decode.generate(self._step, self.spec, cache,
                                                              self._cross_kv(features), valid)
        log.ran(rows, n_valid)
        synchronize(self._device)
        return tokens.cpu().numpy(), n_tokens.cpu().numpy(), hit_max.cpu().numpy()

    # ---------------------------------------------------------------- long-form algorithms

    def _transcribe(self, samples: np.ndarray, stats: RunStats) -> list[Segment]:
        if self.longform == "sequential":
            segments = self._sequential(samples, stats)
        else:
            segments = self._chunked_files([samples], stats, lambda index: None)[0]
        self._finish(stats)
        return segments

    def _transcribe_many(self, files, totals: RunStats, on_file_done) -> list[list[Segment]]:
        if self.longform == "sequential":
            return super()._transcribe_many(files, totals, on_file_done)
        segments = self._chunked_files(files, totals, on_file_done)
        self._finish(totals)
        return segments

    def _finish(self, stats: RunStats) -> None:
        stats.decoding = self.decoding_record()
        stats.extra.update(compilation_cache=self.compilation_cache)

    def _chunked_files(self, files, stats: RunStats, on_file_done) -> list[list[Segment]]:
        log = BucketLog()
        segments = transcribe_in_batches(files, self.batch, partial(self._decode_windows, stats, log), on_file_done)
        stats.extra.update(log.as_extra())
        return segments

    def _decode_windows(self, stats: RunStats, log: BucketLog, windows: list[np.ndarray]) -> list[list]:
        tokens, n_tokens, hit_max = self._generate([self._log_mel(w) for w in windows], log)
        return batch_pieces(tokens, n_tokens, hit_max, len(windows), self.spec, self.tokenizer.decode, stats)

    def _sequential(self, samples: np.ndarray, stats: RunStats) -> list[Segment]:
        """openai-whisper's seek loop on its whole-audio log-mel, each window through this port's decoder."""
        whisper, torch = self._whisper, self._torch
        # As whisper.transcribe: 30 s of silence appended, one maximum over the whole audio.
        mel = whisper.log_mel_spectrogram(torch.from_numpy(np.array(samples, np.float32)),  # a writable copy
                                          self.dims["n_mels"], padding=whisper.audio.N_SAMPLES)
        content_frames = mel.shape[-1] - N_FRAMES
        prompt = len(self.spec.prompt)
        log = BucketLog()

        def decode_window(seek: int, frames: int) -> np.ndarray:
            # openai-whisper pads a short last window's log-mel with zeros, not with silence's log-mel.
            window = whisper.pad_or_trim(mel[:, seek : seek + frames], N_FRAMES)
            tokens, n_tokens, hit_max = self._generate([window], log)
            stats.tokens += int(n_tokens[0])
            stats.max_length_hits += int(hit_max[0])
            return tokens[0, prompt : prompt + n_tokens[0]]

        pieces, stats.windows = seek_loop(content_frames, decode_window, self.spec.timestamp_begin)
        return transcript(pieces, self.tokenizer.decode, self.spec.eot, stats.audio_s)

    # ---------------------------------------------------------------- what ran

    def decoding_record(self) -> DecodingRecord:
        """What the decode step runs: its TokenSpec's rules, and greedy argmax."""
        return decoding_record(self.spec, self.tokenizer.decode)

    def describe(self) -> dict:
        info = super().describe()
        info.update(
            effective_batch=self.batch, encoder_batch=self.encoder_batch, batch_buckets=list(self.buckets),
            compile=self.compile_mode, freezing=self.compiler.freezing, compile_options=self.compiler.options,
            compile_s=round(self.compile_s, 3), compilation_cache=self.compilation_cache,
            longform=self.longform,
            longform_detail=("openai-whisper's seek loop, one 30 s window at a time, whole-audio log-mel"
                             if self.longform == "sequential" else
                             f"30 s chunks every 20 s (5 s strides, whisper-jax's), up to {self.batch} per "
                             "decoder batch (the smallest compiled bucket that holds them), seams merged"),
            threads=self._torch.get_num_threads(), threads_source="torch.get_num_threads()",
        )
        return info


def build(config: PipelineConfig) -> TorchWhisperPipeline:
    return TorchWhisperPipeline(config)
