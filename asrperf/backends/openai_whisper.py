"""openai-whisper on PyTorch, with decoding pinned, in either long-form algorithm.

* ``sequential`` (native): ``whisper.transcribe`` walks the audio in 30 s windows, each
  seeking to the last timestamp of the previous one.
* ``chunked``: whisper-jax's plan (``asrperf.longform``: 30 s chunks every 20 s, seams
  merged), each batch of ``batch_size`` windows through one call of openai-whisper's own
  batched ``whisper.decode``, so the algorithm and not the framework can be compared.

Greedy decoding at temperature 0 with no fallback and no no-speech/compression
thresholds keeps both to one algorithm. Every ``decode`` call the pipeline makes
(``whisper.transcribe`` makes them through ``model.decode``) is observed: the options it
received are the decoding record, its tokens the token counts.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from ..config import PipelineConfig
from ..decoding_record import DecodingRecord, language_and_task
from ..errors import ConfigurationError
from ..hardware import cpu_threads
from ..file_batches import transcribe_in_batches
from ..segments import Segment, make_segment
from ..tokens import split_segments
from ..weights.sources import checkpoint_file, checkpoint_fingerprint, resolve_model
from .base import Pipeline, RunStats
from .devices import check_dtype, synchronize, torch_device, torch_full_float32

_DTYPES = {"cpu": ("float32",), "gpu": ("float16", "float32")}
_WINDOW_SAMPLES = 30 * 16_000


class OpenAIWhisperPipeline(Pipeline):
    backend_name = "openai-whisper"

    def __init__(self, config: PipelineConfig):
        import torch
        import whisper

        self._torch_device = torch_device(config.device)
        dtype = config.dtype or ("float16" if config.device == "gpu" else "float32")
        super().__init__(config, check_dtype(self.backend_name, dtype, _DTYPES, config.device))
        self.matmul_precision = torch_full_float32(self._torch_device, self.dtype)
        self.longform = config.longform or "sequential"
        if self.longform == "sequential" and config.batch_size not in (None, 1):
            raise ConfigurationError(
                "openai-whisper's sequential long-form decodes one window at a time; use batch_size=None, "
                "or longform='chunked' to decode batch_size windows per whisper.decode call"
            )
        self.windows_per_call = config.batch_size or 1
        self.batches_across_files = self.longform == "chunked" and self.windows_per_call > 1
        # Set, not left to the default: every backend gets the same count (the CPU affinity's by default).
        torch.set_num_threads(config.threads or cpu_threads())
        self.resolved = resolve_model(config.model)
        self.model = whisper.load_model(str(checkpoint_file(self.resolved)), device=self._torch_device)
        self.weights_sha256 = checkpoint_fingerprint(self.resolved)
        self.model = self.model.half() if self.dtype == "float16" else self.model.float()
        self._whisper = whisper
        self._torch = torch

        decoding = config.decoding
        # DecodingOptions fields, passed to whisper.transcribe as its **decode_options and to
        # whisper.decode as DecodingOptions: one set for both algorithms.
        self._decode_options = dict(
            task=decoding.task,
            language=decoding.language if self.model.is_multilingual else "en",
            sample_len=decoding.max_new_tokens,
            beam_size=None,  # None is openai-whisper's greedy path; beam_size=1 would run beam search
            suppress_tokens="-1",
            suppress_blank=decoding.suppress_blank,
            without_timestamps=not decoding.timestamps,
            max_initial_timestamp=decoding.max_initial_timestamp,
            fp16=self.dtype == "float16",
        )
        self.tokenizer = whisper.tokenizer.get_tokenizer(
            self.model.is_multilingual, num_languages=self.model.num_languages,
            language=self._decode_options["language"], task=decoding.task)
        # Every decode call, whoever makes it (whisper.transcribe calls model.decode), is observed:
        # each call of the pipeline hands its own list (``_observing``), so no call reads another's.
        self._observer: list[tuple[object, list]] | None = None
        self.model.decode = self._observed_decode

    def _options(self):
        """The DecodingOptions whisper.transcribe builds from the same fields at temperature 0."""
        return self._whisper.DecodingOptions(**self._decode_options, temperature=self.config.decoding.temperature)

    def _observed_decode(self, mel, options):
        results = self._whisper.decode(self.model, mel, options)
        if self._observer is not None:
            self._observer.append((options, results if isinstance(results, list) else [results]))
        return results

    def _transcribe(self, samples: np.ndarray, stats: RunStats) -> list[Segment]:
        with self._observing(stats):
            if self.longform == "sequential":
                return self._sequential(samples, stats.audio_s)
            return transcribe_in_batches([samples], self.windows_per_call, self._decode_windows)[0]

    def _transcribe_many(self, files, totals: RunStats, on_file_done) -> list[list[Segment]]:
        if self.longform == "sequential":
            return super()._transcribe_many(files, totals, on_file_done)
        with self._observing(totals):
            return transcribe_in_batches(files, self.windows_per_call, self._decode_windows, on_file_done)

    @contextmanager
    def _observing(self, stats: RunStats):
        """Collect this call's decode calls; then wait for the device and fill ``stats`` from them."""
        calls: list[tuple[object, list]] = []
        self._observer = calls
        try:
            yield
        finally:
            self._observer = None
        synchronize(self._torch_device)
        results = [r for _, call_results in calls for r in call_results]
        sample_len = self._decode_options["sample_len"]
        stats.windows += len(results)
        stats.tokens += sum(len(r.tokens) for r in results)  # sampled, no prompt, no end-of-text
        # A window that never sampled end-of-text ran to the token limit.
        stats.max_length_hits += sum(1 for r in results if len(r.tokens) >= sample_len)
        if calls:
            stats.decoding = self.decoding_record(calls)

    def _sequential(self, samples: np.ndarray, duration: float) -> list[Segment]:
        decoding = self.config.decoding
        result = self._whisper.transcribe(
            self.model,
            # torch.from_numpy wants a writable array; shared corpus audio is read-only.
            samples if samples.flags.writeable else samples.copy(),
            verbose=None,
            temperature=decoding.temperature,
            condition_on_previous_text=decoding.condition_on_previous_text,
            compression_ratio_threshold=None,
            logprob_threshold=None,
            no_speech_threshold=None,
            **self._decode_options,
        )
        segments = [make_segment(s["start"], s["end"], s["text"], fallback_end=duration) for s in result["segments"]]
        return [s for s in segments if s.text]

    def _decode_windows(self, windows: list[np.ndarray]) -> list[list]:
        """One batched ``whisper.decode`` call over up to ``batch_size`` windows (``file_batches``)."""
        whisper, torch = self._whisper, self._torch
        # One log-mel per window, each padded to 30 s with silence and normalised on its
        # own: log_mel_spectrogram on a stacked batch would share one maximum across windows.
        mels = []
        for samples in windows:
            window = np.zeros(_WINDOW_SAMPLES, np.float32)
            window[: len(samples)] = samples
            mels.append(whisper.log_mel_spectrogram(torch.from_numpy(window), self.model.dims.n_mels))
        mel = torch.stack(mels).to(self._torch_device)
        tokenizer = self.tokenizer
        return [split_segments(result.tokens, tokenizer.timestamp_begin, tokenizer.eot, tokenizer.decode)
                for result in self.model.decode(mel, self._options())]

    def decoding_record(self, calls: list[tuple[object, list]] | None = None) -> DecodingRecord:
        """What the decode ``calls`` of one transcription received (None: what the next call will get)."""
        from whisper.decoding import ApplyTimestampRules, DecodingTask, GreedyDecoder, SuppressBlank, SuppressTokens

        calls = calls or []
        options = calls[-1][0] if calls else self._options()
        task = DecodingTask(self.model, options)  # what decode() builds from these options
        filters = task.logit_filters
        suppress = next((f.suppress_tokens for f in filters if isinstance(f, SuppressTokens)), [])
        timestamp_rules = next((f for f in filters if isinstance(f, ApplyTimestampRules)), None)
        language, task_name = language_and_task([task.tokenizer.decode([t]) for t in task.initial_tokens])
        greedy = isinstance(task.decoder, GreedyDecoder)
        return DecodingRecord(
            beam_size=1 if greedy else options.beam_size,
            temperature=float(task.decoder.temperature) if greedy else float("nan"),
            max_new_tokens=task.sample_len,
            suppress_tokens=tuple(suppress),
            suppress_blank=any(isinstance(f, SuppressBlank) for f in filters),
            timestamps=timestamp_rules is not None,
            max_initial_timestamp_index=timestamp_rules.max_initial_timestamp_index if timestamp_rules else None,
            condition_on_previous_text=any(bool(o.prompt) for o, _ in calls),
            language=language,
            task=task_name,
        )

    def describe(self) -> dict:
        info = super().describe()
        info.update(
            longform=self.longform,
            longform_detail=("whisper.transcribe: 30 s windows, each seeking to the last timestamp"
                             if self.longform == "sequential" else
                             f"30 s chunks every 20 s (5 s strides), {self.windows_per_call} per whisper.decode "
                             "call, seams merged"),
            threads=self._torch.get_num_threads(),
            threads_source="torch.get_num_threads()",
        )
        return info


def build(config: PipelineConfig) -> OpenAIWhisperPipeline:
    return OpenAIWhisperPipeline(config)
