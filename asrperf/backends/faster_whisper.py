"""faster-whisper (CTranslate2): sequential, or batched with ``BatchedInferencePipeline``.

Decoding is pinned to the suite's settings: greedy (``beam_size=1``), one temperature,
no previous-text conditioning, timestamps on, no thresholds, no VAD (VAD would drop
audio the other backends transcribe). Batched mode cuts the audio into fixed 30 s
clips, since without VAD faster-whisper needs the clips spelled out. The segment
generator is consumed inside ``transcribe``, so the timed region includes decoding.
"""

from __future__ import annotations

import numpy as np

from ..audio import SAMPLE_RATE
from ..config import PipelineConfig
from ..errors import DeviceUnavailableError, ModelNotFoundError
from ..segments import Segment, make_segment
from ..weights.ct2_dirs import ct2_directory
from ..weights.sources import resolve_model
from .base import Pipeline
from .devices import check_dtype

_DTYPES = {"cpu": ("float32", "int8"), "gpu": ("float16", "int8", "float32", "bfloat16")}
_CLIP = 30 * SAMPLE_RATE


class FasterWhisperPipeline(Pipeline):
    backend_name = "faster-whisper"

    def __init__(self, config: PipelineConfig):
        import ctranslate2
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        dtype = config.dtype or ("float16" if config.device == "gpu" else "float32")
        super().__init__(config, check_dtype(self.backend_name, dtype, _DTYPES, config.device))
        if config.device == "gpu" and ctranslate2.get_cuda_device_count() == 0:
            raise DeviceUnavailableError("device='gpu' was requested but CTranslate2 sees no CUDA device: "
                                         "use device='cpu' or a CUDA build of ctranslate2 on an NVIDIA GPU")
        self.cpu_threads = config.threads or 0  # 0: CTranslate2's default (all cores)
        source = self._model_directory(config.model)
        try:
            self.model = WhisperModel(source, device="cuda" if config.device == "gpu" else "cpu",
                                      compute_type=dtype, cpu_threads=self.cpu_threads, local_files_only=True)
        except (OSError, ValueError, RuntimeError) as exc:
            if source != config.model:
                raise  # a directory asrperf verified: a real failure, not a missing model
            raise ModelNotFoundError(
                f"faster-whisper has no local CTranslate2 weights for {config.model!r} ({type(exc).__name__}); "
                "pass a CTranslate2 directory, or fetch the converted model into your Hugging Face cache "
                "(benchmarks never download)"
            ) from None
        self.batched = BatchedInferencePipeline(self.model) if config.batch_size else None

    def _model_directory(self, name: str) -> str:
        try:
            resolved = resolve_model(name)
        except ModelNotFoundError:
            from faster_whisper.utils import available_models

            if name in available_models():
                return name  # faster-whisper's own names, from the HF cache only (local_files_only)
            raise
        if resolved.kind != "ctranslate2":
            raise ModelNotFoundError(
                f"faster-whisper needs CTranslate2 weights, and {name!r} resolves to {resolved.source}; "
                f"pass a CTranslate2 directory, or convert with ct2-transformers-converter"
            )
        return str(ct2_directory(resolved))

    def _options(self) -> dict:
        decoding = self.config.decoding
        return dict(
            language=decoding.language, task=decoding.task, beam_size=1, temperature=decoding.temperature,
            condition_on_previous_text=decoding.condition_on_previous_text,
            without_timestamps=not decoding.timestamps, max_initial_timestamp=decoding.max_initial_timestamp,
            suppress_blank=decoding.suppress_blank, suppress_tokens=[-1], compression_ratio_threshold=None,
            log_prob_threshold=None, no_speech_threshold=None, vad_filter=False,
        )

    def _transcribe(self, samples: np.ndarray) -> list[Segment]:
        options = self._options()
        if self.batched is not None:
            # In seconds: faster-whisper multiplies clip times by the sample rate.
            clips = [{"start": start / SAMPLE_RATE, "end": min(start + _CLIP, len(samples)) / SAMPLE_RATE}
                     for start in range(0, len(samples), _CLIP)]
            generator, _info = self.batched.transcribe(samples, batch_size=self.config.batch_size,
                                                       clip_timestamps=clips, **options)
        else:
            generator, _info = self.model.transcribe(samples, best_of=1, **options)
        raw = list(generator)  # decoding happens while the generator is consumed
        duration = self.last_run.audio_s
        self.last_run.tokens = sum(len(s.tokens) for s in raw)
        self.last_run.windows = len({s.seek for s in raw}) if raw else 0
        segments = [make_segment(s.start, s.end, s.text, fallback_end=duration) for s in raw]
        return [s for s in segments if s.text]

    def describe(self) -> dict:
        info = super().describe()
        info.update(threads=self.cpu_threads, longform="batched 30 s clips, no VAD" if self.batched
                    else "sequential 30 s windows")
        return info


def build(config: PipelineConfig) -> FasterWhisperPipeline:
    return FasterWhisperPipeline(config)
