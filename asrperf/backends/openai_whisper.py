"""openai-whisper on PyTorch, run the way its README runs it, with decoding pinned.

``whisper.transcribe`` walks the audio in sequential 30 s windows, each seeking to
the last timestamp of the previous one. Greedy decoding at temperature 0 with no
fallback and no no-speech/compression thresholds keeps it to one algorithm; the
settings are in ``DecodingSettings`` and recorded with every result.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from ..config import PipelineConfig
from ..segments import Segment, make_segment
from ..weights.sources import checkpoint_file, resolve_model
from .base import Pipeline
from .devices import check_dtype, synchronize, torch_device

_DTYPES = {"cpu": ("float32",), "gpu": ("float16", "float32")}


class OpenAIWhisperPipeline(Pipeline):
    backend_name = "openai-whisper"

    def __init__(self, config: PipelineConfig):
        import torch
        import whisper

        self._torch_device = torch_device(config.device)
        dtype = config.dtype or ("float16" if config.device == "gpu" else "float32")
        super().__init__(config, check_dtype(self.backend_name, dtype, _DTYPES, config.device))
        if config.batch_size not in (None, 1):
            from ..errors import ConfigurationError

            raise ConfigurationError(
                "openai-whisper transcribes one window at a time; use batch_size=None "
                "(batched long-form is what the jax, faster-whisper and transformers backends add)"
            )
        if config.threads:
            torch.set_num_threads(config.threads)
        self.resolved = resolve_model(config.model)
        self.model = whisper.load_model(str(checkpoint_file(self.resolved)), device=self._torch_device)
        self.model = self.model.half() if self.dtype == "float16" else self.model.float()
        self._whisper = whisper

    def _transcribe(self, samples: np.ndarray) -> list[Segment]:
        decoding = self.config.decoding
        multilingual = self.model.is_multilingual
        result = self._whisper.transcribe(
            self.model,
            # torch.from_numpy wants a writable array; shared corpus audio is read-only.
            samples if samples.flags.writeable else samples.copy(),
            verbose=None,
            temperature=decoding.temperature,
            beam_size=None,  # None is openai-whisper's greedy path; beam_size=1 would run beam search
            best_of=None,
            condition_on_previous_text=decoding.condition_on_previous_text,
            without_timestamps=not decoding.timestamps,
            max_initial_timestamp=decoding.max_initial_timestamp,
            suppress_blank=decoding.suppress_blank,
            language=decoding.language if multilingual else "en",
            task=decoding.task,
            fp16=self.dtype == "float16",
            compression_ratio_threshold=None,
            logprob_threshold=None,
            no_speech_threshold=None,
        )
        synchronize(self._torch_device)
        duration = self.last_run.audio_s
        per_window = Counter(seg["seek"] for seg in result["segments"])
        tokens_per_window = Counter()
        for seg in result["segments"]:
            tokens_per_window[seg["seek"]] += len(seg["tokens"])
        self.last_run.windows = len(per_window)
        self.last_run.tokens = sum(tokens_per_window.values())
        self.last_run.max_length_hits = sum(
            1 for count in tokens_per_window.values() if count >= decoding.max_new_tokens - 1
        )
        segments = [make_segment(s["start"], s["end"], s["text"], fallback_end=duration) for s in result["segments"]]
        return [s for s in segments if s.text]


def build(config: PipelineConfig) -> OpenAIWhisperPipeline:
    return OpenAIWhisperPipeline(config)
