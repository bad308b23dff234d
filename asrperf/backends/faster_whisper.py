"""faster-whisper (CTranslate2): sequential, or batched with ``BatchedInferencePipeline``.

Decoding is pinned to the suite's settings: greedy (``beam_size=1``), one temperature,
no previous-text conditioning, timestamps on, the suite's ``max_new_tokens``, no
thresholds, no VAD (VAD would drop audio the other backends transcribe). Long-form:
``sequential`` (native) is faster-whisper's own seek loop; ``chunked`` (native with a
``batch_size``) is its batched mode, which without VAD needs its clips spelled out:
fixed, non-overlapping 30 s clips, not the 5 s-stride plan of the other chunked
backends. The segment generator is consumed inside ``transcribe``, so the timed region
includes decoding.

Every call faster-whisper makes to CTranslate2's ``generate`` is observed: its
arguments are the decoding record, its tokens the token counts.

The token limit: CTranslate2's Whisper decodes at most ``max_length // 2`` tokens
(``decoding_options.max_length = options.max_length / 2`` in its whisper.cc; measured:
max_length 6, 11, 20, 100 → 3, 5, 10, 50 tokens), so its default 448 is openai-whisper's
224 (``n_text_ctx // 2``). faster-whisper's ``max_new_tokens=N`` passes ``len(prompt) + N``
and so *halves* the limit (N=224 → 112 tokens). asrperf therefore sets faster-whisper's
``max_length``, which it passes on when ``max_new_tokens`` is None, to twice the suite's limit.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from ..audio import SAMPLE_RATE
from ..config import PipelineConfig
from ..decoding_record import DecodingRecord, language_and_task
from ..errors import ConfigurationError, DeviceUnavailableError, ModelNotFoundError
from ..hardware import cpu_threads
from ..segments import Segment, make_segment
from ..weights.ct2_dirs import ct2_directory
from ..weights.sources import checkpoint_fingerprint, resolve_model
from .base import Pipeline, RunStats
from .devices import check_dtype, load_cuda12_cublas

_DTYPES = {"cpu": ("float32", "int8"), "gpu": ("float16", "int8", "float32", "bfloat16")}
_CLIP = 30 * SAMPLE_RATE


@lru_cache(maxsize=1)
def ct2_generate_defaults() -> dict[str, str]:
    """CTranslate2's defaults for ``Whisper.generate`` arguments, read from its signature line."""
    import ctranslate2

    signature = (ctranslate2.models.Whisper.generate.__doc__ or "").split("\n", 1)[0]
    return dict(re.findall(r"(\w+): [\w\[\], .]+? = ([^,)]+)", signature))


class _ObservedGenerate:
    """Stands in for faster-whisper's CTranslate2 model, keeping what each ``generate`` call got and gave."""

    def __init__(self, model):
        self._model = model
        self.calls: list[tuple[list[list[int]], dict, list[int]]] = []  # (prompts, kwargs, sampled per row)

    def generate(self, features, prompts, **kwargs):
        results = self._model.generate(features, prompts, **kwargs)
        # sequences_ids: the best hypothesis's tokens, without the prompt and the end-of-text token.
        self.calls.append(([list(p) for p in prompts], kwargs, [len(r.sequences_ids[0]) for r in results]))
        return results

    def __getattr__(self, name):
        return getattr(self._model, name)


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
        if config.device == "gpu":
            load_cuda12_cublas()  # CTranslate2 opens libcublas.so.12 by name, off pip's nvidia folders
        self.longform = config.longform or ("chunked" if config.batch_size else "sequential")
        if self.longform == "sequential" and config.batch_size not in (None, 1):
            raise ConfigurationError("faster-whisper's sequential long-form decodes one window at a time; use "
                                     "batch_size=None, or longform='chunked' for its batched 30 s clips")
        # Passed explicitly: CTranslate2's own default is 4 threads, not the machine's cores.
        self.cpu_threads = config.threads or cpu_threads()
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
        # CTranslate2 halves the max_length it is given (see the module docstring).
        self.model.max_length = 2 * config.decoding.max_new_tokens
        self._observed = _ObservedGenerate(self.model.model)
        self.model.model = self._observed  # both of faster-whisper's modes call model.model.generate
        self.batched = BatchedInferencePipeline(self.model) if self.longform == "chunked" else None

    def _model_directory(self, name: str) -> str:
        try:
            resolved = resolve_model(name)
        except ModelNotFoundError:
            from faster_whisper.utils import available_models

            if name in available_models():
                return name  # faster-whisper's own names, from the HF cache only (local_files_only)
            raise
        self.weights_sha256 = checkpoint_fingerprint(resolved)  # the converted checkpoint is these weights, lossless
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
            suppress_blank=decoding.suppress_blank, suppress_tokens=[-1], max_new_tokens=None,  # see max_length
            compression_ratio_threshold=None, log_prob_threshold=None, no_speech_threshold=None, vad_filter=False,
        )

    def _transcribe(self, samples: np.ndarray, stats: RunStats) -> list[Segment]:
        options = self._options()
        self._observed.calls = calls = []  # this call's generate calls only
        if self.batched is not None:
            # In seconds: faster-whisper multiplies clip times by the sample rate.
            clips = [{"start": start / SAMPLE_RATE, "end": min(start + _CLIP, len(samples)) / SAMPLE_RATE}
                     for start in range(0, len(samples), _CLIP)]
            generator, _info = self.batched.transcribe(samples, batch_size=self.config.batch_size or 1,
                                                       clip_timestamps=clips, **options)
        else:
            generator, _info = self.model.transcribe(samples, best_of=1, **options)
        raw = list(generator)  # decoding happens while the generator is consumed
        rows = [(ct2_token_limit(kwargs), sampled) for _, kwargs, counts in calls for sampled in counts]
        stats.windows = len(rows)
        stats.tokens = sum(sampled for _, sampled in rows)
        # A row that reached the limit never sampled end-of-text.
        stats.max_length_hits = sum(1 for limit, sampled in rows if sampled >= limit)
        stats.decoding = self.decoding_record(calls[-1]) if calls else None
        segments = [make_segment(s.start, s.end, s.text, fallback_end=stats.audio_s) for s in raw]
        return [s for s in segments if s.text]

    def decoding_record(self, call: tuple) -> DecodingRecord:
        """The arguments of one observed ``generate`` call: (prompts, kwargs, sampled counts)."""
        prompts, kwargs, _ = call
        defaults = ct2_generate_defaults()

        def argument(name: str):
            return kwargs[name] if name in kwargs else _literal(defaults[name])

        prompt = [self.model.hf_tokenizer.id_to_token(t) for t in prompts[0]]
        language, task = language_and_task(prompt)
        beam, top_k = argument("beam_size"), argument("sampling_topk")
        timestamps = "<|notimestamps|>" not in prompt
        suppress = argument("suppress_tokens") or ()
        if -1 in suppress:
            raise ConfigurationError("faster-whisper passed CTranslate2 suppress_tokens=-1 unresolved; "
                                     "asrperf cannot tell which tokens that suppresses")
        return DecodingRecord(
            beam_size=int(beam),
            # With one beam and top-1 sampling CTranslate2 takes the argmax whatever the temperature.
            temperature=0.0 if beam == 1 and top_k == 1 else float(argument("sampling_temperature")),
            max_new_tokens=ct2_token_limit({"max_length": argument("max_length")}),
            suppress_tokens=tuple(suppress),
            suppress_blank=bool(argument("suppress_blank")),
            timestamps=timestamps,
            max_initial_timestamp_index=int(argument("max_initial_timestamp_index")) if timestamps else None,
            condition_on_previous_text="<|startofprev|>" in prompt,
            language=language,
            task=task,
        )

    def describe(self) -> dict:
        info = super().describe()
        info.update(threads=self.cpu_threads, threads_source="CTranslate2 cpu_threads (passed explicitly)",
                    longform=self.longform,
                    longform_detail=(f"BatchedInferencePipeline, fixed non-overlapping 30 s clips, no VAD, "
                                     f"{self.config.batch_size or 1} per batch" if self.batched
                                     else "faster-whisper's seek loop, 30 s windows"))
        return info


def ct2_token_limit(generate_kwargs: dict) -> int:
    """Tokens CTranslate2's Whisper may sample for these ``generate`` arguments: half its max_length."""
    max_length = generate_kwargs.get("max_length")
    return int(max_length if max_length is not None else _literal(ct2_generate_defaults()["max_length"])) // 2


def _literal(text: str):
    """A default from CTranslate2's signature text → its Python value."""
    import ast

    return ast.literal_eval(text.strip())


def build(config: PipelineConfig) -> FasterWhisperPipeline:
    return FasterWhisperPipeline(config)
