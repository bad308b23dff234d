"""whisper.cpp (ggml) through pywhispercpp's bindings, on asrperf's own converted weights.

The model is the ggml file ``asrperf.weights.ggml`` writes from the checkpoint every
backend uses, so ``weights_sha256`` is theirs. pywhispercpp's ``Model`` downloads a
model when its argument is not a file; this pipeline never goes through it: it hands
the verified file's path straight to ``whisper_init_from_file_with_params``.

Long-form is whisper.cpp's own seek loop (``whisper_full``: 30 s windows, each starting
at the previous window's last timestamp), greedy at temperature 0 with the fallback
off, no previous text (``n_max_text_ctx=0``: ``no_context`` only clears the text of
earlier *calls*), no no-speech skip, English, openai-whisper's blank suppression and
whisper.cpp's ``suppress_nst``. What whisper.cpp cannot be told to do like the others is
listed in ``UPSTREAM_RULES`` and recorded in every row.

Counting: pywhispercpp's logits-filter callback receives the length of the sequence
being decoded at every sampling step, so each window's steps are observed. The token
sampled at a window's last step is end-of-text, except where whisper.cpp stopped the
window itself: at its token limit, or at a timestamp within 100 ms of the audio's end
(see ``_window_tokens``).
"""

from __future__ import annotations

import importlib.metadata
import math
import re
import weakref
from contextlib import contextmanager

import numpy as np

from ..config import PipelineConfig
from ..decoding_record import TIMESTAMP_PRECISION_S, DecodingRecord
from ..errors import ConfigurationError, DeviceUnavailableError, WeightsIntegrityError
from ..hardware import cpu_threads
from ..segments import Segment, make_segment
from ..weights.ggml import ggml_model_file, read_manifest
from ..weights.sources import resolve_model
from .base import Pipeline, RunStats
from .devices import check_dtype

#: dtype → the ggml file's storage: "float16" is whisper.cpp's converter default (float16 matrices
#: and conv kernels, float32 vectors; products of float16 operands), "float32" its use-f32 option.
_DTYPES = {"cpu": ("float16", "float32")}
#: whisper.cpp's segment times are in 10 ms units
_TIME_UNIT_S = 0.01
#: whisper.cpp ends a window at a timestamp this close to the audio's end (its ``delta_min``, 10 ms units)
_END_OF_AUDIO_MARGIN = 10
#: ggml log level of errors
_LOG_ERROR = 4

UPSTREAM_RULES = (
    "token limit fixed at n_text_ctx/2 - 4 = 220 sampled tokens a window (openai-whisper: 224); "
    "DecodingSettings.max_new_tokens cannot be passed",
    "language tokens are suppressed at every step (openai-whisper does not suppress them)",
    "suppress_nst bans a non-speech symbol only where it is one whole token, so the first byte-token of the "
    "musical symbols that openai-whisper also bans is allowed",
    "no rule forces the first sampled token to be a timestamp",
    "a window ends at a timestamp within 100 ms of the audio's end without sampling end-of-text, and the seek "
    "loop stops when less than 100 ms of audio is left",
    "built without AVX-512 (the PyPI wheel): see system_info",
)


class WhisperCppPipeline(Pipeline):
    backend_name = "whisper-cpp"

    def __init__(self, config: PipelineConfig):
        import _pywhispercpp as pw

        if config.device != "cpu":
            raise DeviceUnavailableError(f"device={config.device!r} was requested, but pywhispercpp's wheel is built "
                                         "for the CPU only: use device='cpu'")
        super().__init__(config, check_dtype(self.backend_name, config.dtype or "float16", _DTYPES, config.device))
        if config.batch_size not in (None, 1):
            raise ConfigurationError("whisper.cpp's seek loop decodes one window at a time: use batch_size=None")
        decoding = config.decoding
        if decoding.max_new_tokens != 224:
            raise ConfigurationError(
                f"whisper.cpp samples at most n_text_ctx/2 - 4 tokens a window and takes no limit; it cannot run "
                f"max_new_tokens={decoding.max_new_tokens} (leave DecodingSettings.max_new_tokens at 224)")
        self._pw = pw
        self.longform = "sequential"
        self.resolved = resolve_model(config.model)
        from ..whisper_assets import whisper_asset

        tokenizer_file = "gpt2.tiktoken" if self.resolved.english_only else "multilingual.tiktoken"
        self.model_file = ggml_model_file(self.resolved, self.dtype, whisper_asset("mel_filters.npz"),
                                          whisper_asset(tokenizer_file))
        with self._logs() as logs:
            context = pw.whisper_init_from_file_with_params(str(self.model_file), pw.whisper_context_default_params())
        errors = [text.strip() for level, text in logs if level == _LOG_ERROR]
        if errors:
            raise WeightsIntegrityError(f"whisper.cpp could not load {self.model_file}: {' '.join(errors)}; "
                                        "delete it and asrperf will write it again")
        self._context = context
        # whisper.cpp's context is freed by close(), or when the pipeline is collected, or at exit.
        self._free = weakref.finalize(self, _free_context, pw, context)
        self.weights_sha256 = read_manifest(self.model_file)["weights_sha256"]
        self.system_info = pw.whisper_print_system_info().strip()
        self._steps: list[int] = []  # sequence length at each sampling step, in order
        self._params = self._decoding_params(pw.whisper_full_default_params(
            pw.whisper_sampling_strategy.WHISPER_SAMPLING_GREEDY))

    @contextmanager
    def _logs(self):
        """whisper.cpp's log lines (level, text) while the block runs, instead of on stderr.

        The default logger is put back afterwards: a Python logger still set when the
        interpreter shuts down would be called from C without the GIL.
        """
        lines: list[tuple[int, str]] = []
        self._pw.whisper_log_set(lambda level, text: lines.append((level, text)))
        try:
            yield lines
        finally:
            self._pw.whisper_log_set(None)

    def _decoding_params(self, params):
        decoding = self.config.decoding
        params.n_threads = self.config.threads or cpu_threads()  # its own default is min(4, cores)
        params.language = decoding.language
        params.translate = decoding.task == "translate"
        params.detect_language = False
        params.no_timestamps = not decoding.timestamps
        params.max_initial_ts = decoding.max_initial_timestamp
        params.suppress_blank = decoding.suppress_blank
        params.suppress_nst = True
        params.temperature = decoding.temperature
        params.temperature_inc = 0.0  # no fallback: one temperature
        # No previous text: no_context clears earlier calls' text, n_max_text_ctx=0 the earlier windows'.
        params.no_context = not decoding.condition_on_previous_text
        params.n_max_text_ctx = 16384 if decoding.condition_on_previous_text else 0
        # whisper.cpp drops a window's text when no_speech_prob > no_speech_thold and avg_logprob < logprob_thold;
        # these bounds make that never true, as openai-whisper's no_speech_threshold=None does.
        params.no_speech_thold = math.inf
        params.logprob_thold = -math.inf
        params.entropy_thold = 0.0  # read only to choose a fallback, which is off
        params.single_segment = False
        params.token_timestamps = False
        params.max_len = 0
        params.max_tokens = 0
        params.print_progress = params.print_realtime = params.print_timestamps = params.print_special = False
        self._pw.assign_logits_filter_callback(params, self._observe_step)
        return params

    def _observe_step(self, _context, sequence_length, *_):
        # pywhispercpp 1.5 hands the callback the sequence's length (and one logit, not the array): enough to count.
        self._steps.append(int(sequence_length))

    def _transcribe(self, samples: np.ndarray, stats: RunStats) -> list[Segment]:
        pw, context = self._pw, self._context
        self._steps = steps = []  # this call's steps only
        samples = np.ascontiguousarray(samples, np.float32)
        with self._logs() as logs:
            status = pw.whisper_full(context, self._params, samples, samples.size)
        if status != 0:
            errors = " ".join(text.strip() for level, text in logs if level == _LOG_ERROR)
            # whisper_full fails only on a broken model or state (encode/decode errors): say so and how to recover.
            raise WeightsIntegrityError(f"whisper.cpp's whisper_full failed with status {status} "
                                        f"({errors or 'no log'}) on {self.model_file}: delete that file so asrperf "
                                        "writes it again, and build a new pipeline")
        raw = [(pw.whisper_full_get_segment_t0(context, i), pw.whisper_full_get_segment_t1(context, i),
                pw.whisper_full_get_segment_text(context, i).decode("utf-8", errors="replace"))
               for i in range(pw.whisper_full_n_segments(context))]
        windows = self._window_tokens(steps, raw[-1][1] if raw else None, pw.whisper_n_len(context))
        limit = self._token_limit()
        stats.windows = len(windows)
        stats.tokens = sum(windows)
        stats.max_length_hits = sum(1 for tokens in windows if tokens >= limit)
        stats.decoding = self.decoding_record()
        segments = [make_segment(t0 * _TIME_UNIT_S, t1 * _TIME_UNIT_S, text, fallback_end=stats.audio_s)
                    for t0, t1, text in raw]
        return [s for s in segments if s.text]

    def _window_tokens(self, steps: list[int], last_end: int | None, seek_end: int) -> list[int]:
        """Sampled text and timestamp tokens of each window (no prompt, no end-of-text), from the steps seen.

        A window samples one token a step. Its last one is end-of-text unless whisper.cpp
        stopped the window: at the token limit, or, in the last window, at a timestamp
        within 100 ms of the audio's end, which then closes the last segment.
        """
        lengths: list[int] = []
        for length in steps:
            if length == 0:
                lengths.append(0)
            lengths[-1] += 1
        limit = self._token_limit()
        counts = [steps if steps >= limit else steps - 1 for steps in lengths]
        if counts and lengths[-1] < limit and last_end is not None and last_end + _END_OF_AUDIO_MARGIN >= seek_end:
            counts[-1] += 1
        return counts

    def _token_limit(self) -> int:
        return self._pw.whisper_n_text_ctx(self._context) // 2 - 4  # whisper_full's n_max

    def suppressed_tokens(self) -> tuple[int, ...]:
        """Every token whisper.cpp bans at every step with these params (timestamp rules aside).

        Its fixed bans (start, no-speech, start-of-LM unless tinydiarize is on, both task
        tokens, start-of-previous, every language token) come from the library's own token
        ids; ``suppress_nst`` bans openai-whisper's non-speech symbols where the symbol,
        or the symbol after a space, is one whole vocabulary entry, plus " -" and " '".
        """
        pw, context = self._pw, self._context
        # pywhispercpp binds no whisper_token_nosp: whisper.cpp numbers <|nospeech|> just before <|notimestamps|>.
        banned = {pw.whisper_token_sot(context), pw.whisper_token_not(context) - 1, pw.whisper_token_translate(context),
                  pw.whisper_token_transcribe(context), pw.whisper_token_prev(context)}
        if not self._params.tdrz_enable:
            banned.add(pw.whisper_token_solm(context))
        banned |= {pw.whisper_token_lang(context, i) for i in range(pw.whisper_lang_max_id() + 1)}
        if self._params.suppress_nst:
            banned |= set(self._whole_non_speech_tokens())
        return tuple(sorted(banned))

    def _whole_non_speech_tokens(self) -> list[int]:
        """openai-whisper's non-speech tokens that are whole symbols (valid UTF-8), as whisper.cpp looks them up."""
        from ..tokenizer import tokenizer_for_model

        tokenizer = tokenizer_for_model(self._pw.whisper_n_vocab(self._context))
        whole = []
        for token in tokenizer.non_speech_tokens:
            try:
                tokenizer.encoding.decode_single_token_bytes(token).decode("utf-8")
            except UnicodeDecodeError:  # a byte prefix shared by several symbols: no whole-token match
                continue
            whole.append(token)
        return whole

    def decoding_record(self) -> DecodingRecord:
        """The decoding whisper.cpp runs with the params this pipeline passes it, read back from them."""
        params = self._params
        greedy = params.strategy == self._pw.whisper_sampling_strategy.WHISPER_SAMPLING_GREEDY
        timestamps = not params.no_timestamps
        return DecodingRecord(
            beam_size=1 if greedy else int(params.beam_search["beam_size"]),
            # Greedy at temperature 0 takes the argmax; temperature_inc 0 means no fallback temperatures.
            temperature=float(params.temperature) if params.temperature_inc == 0 else float("nan"),
            max_new_tokens=self._token_limit(),
            suppress_tokens=self.suppressed_tokens(),
            suppress_blank=bool(params.suppress_blank),
            timestamps=timestamps,
            max_initial_timestamp_index=(round(params.max_initial_ts / TIMESTAMP_PRECISION_S)
                                         if timestamps and params.max_initial_ts > 0 else None),
            condition_on_previous_text=params.n_max_text_ctx > 0,  # the only switch for earlier windows' text
            language=params.language,
            task="translate" if params.translate else "transcribe",
        )

    def describe(self) -> dict:
        info = super().describe()
        storage = read_manifest(self.model_file)["storage"]
        info.update(
            threads=self._params.n_threads, threads_source="whisper.cpp n_threads (passed explicitly)",
            longform=self.longform,
            longform_detail="whisper.cpp's seek loop (whisper_full): 30 s windows, each from the last timestamp",
            matmul_precision=("float16 x float16 products, float32 sums" if self.dtype == "float16" else "float32"),
            ggml_type=f"ftype {self._pw.whisper_model_ftype(self._context)} ({storage} matrices, "
                      "float32 vectors)",
            system_info=self.system_info,
            library_versions=library_versions(),
            upstream_rules=list(UPSTREAM_RULES),
        )
        return info

    def close(self) -> None:
        free = self.__dict__.get("_free")
        if free is not None:
            free()
        super().close()


def _free_context(pw, context) -> None:
    pw.whisper_free(context)


def library_versions() -> dict[str, str | None]:
    """pywhispercpp's version, and whisper.cpp's as the version of the libwhisper its wheel bundles."""
    versions = {"pywhispercpp": importlib.metadata.version("pywhispercpp"), "whisper.cpp": None}
    for path in importlib.metadata.files("pywhispercpp") or ():
        if match := re.search(r"libwhisper[\w-]*\.so\.(\d+\.\d+\.\d+)$", str(path)):
            versions["whisper.cpp"] = match.group(1)
    return versions


def build(config: PipelineConfig) -> WhisperCppPipeline:
    return WhisperCppPipeline(config)
