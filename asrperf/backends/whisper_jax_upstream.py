"""The upstream whisper-jax package, run in its own pinned environment through a worker process.

whisper-jax needs jax<0.4.31 and transformers<4.35, which cannot live beside asrperf's
current stack. ``make whisper-jax-env`` builds ``.venv-whisper-jax`` (jax/jaxlib 0.4.30,
flax 0.8.5, transformers 4.34.1, whisper-jax at its last commit, no torch), and each
pipeline of this backend drives one long-lived worker there (``whisper_jax_worker.py``)
over a small versioned protocol (``worker_process``): float32 audio in, segments out.

* Audio is loaded and validated here, by the base ``Pipeline.transcribe``, so bad input
  gets the same errors as every other backend.
* The weights are the same converted checkpoint every backend uses, written once as a
  Hugging Face Flax directory (``weights.flax_export``); nothing touches the hub.
* Decoding is the suite's: greedy, timestamps on, openai-whisper's suppressed tokens,
  ``max_new_tokens`` new tokens a window, language and task forced for multilingual
  models. The worker reports the generate arguments it actually used (``describe()``).
* The worker times each call itself; rows record that time and the round trip.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path

import numpy as np

from ..config import PipelineConfig
from ..errors import WeightsIntegrityError
from ..segments import Segment, segments_from_chunks
from ..weights.flax_export import flax_model_dir, read_manifest
from ..weights.sources import resolve_model
from ..decoding_record import DecodingRecord
from .base import Pipeline, RunStats
from .devices import check_dtype
from .worker_process import WorkerError, WorkerProcess

PROTOCOL = 1  # must match whisper_jax_worker.PROTOCOL
PYTHON_ENV_VAR = "ASRPERF_WHISPER_JAX_PYTHON"
SIDE_ENV = ".venv-whisper-jax"
WORKER_SCRIPT = Path(__file__).with_name("whisper_jax_worker.py")
_REPO = Path(__file__).resolve().parents[2]
_DTYPES = {"cpu": ("float32", "bfloat16"), "gpu": ("float16", "bfloat16", "float32")}
#: Where upstream applies the suite's settings differently from openai-whisper (read from
#: transformers 4.34's Flax generate and checked on its timestamp processor); not fixable by
#: arguments, so recorded rather than patched: this backend measures whisper-jax as it is.
UPSTREAM_RULES = (
    "max_initial_timestamp bounds the second sampled token, not the first (FlaxWhisperTimeStampLogitsProcessor's "
    "begin_index is one past the first sampled position); for multilingual models the begin-suppress tokens "
    "(blank, end-of-text) fall on the forced language position, so the first sampled token is not suppressed; "
    "timestamps are not forced to be non-decreasing"
)
_BUILD = (f"run `make whisper-jax-env` in {_REPO} to install it ({SIDE_ENV}: whisper-jax and its pinned "
          "JAX 0.4.30 stack; `make setup` does this too)")


@dataclass(frozen=True)
class Timeouts:
    """How long the worker may take before it is killed and reported (it never hangs a run)."""

    start_s: float = 120.0  # the side environment's Python starting and saying hello
    load_s: float = 900.0  # weights loaded into whisper-jax
    call_s: float = 600.0  # a transcription: this, plus ``call_per_audio_s`` per second of audio
    call_per_audio_s: float = 10.0
    export_s: float = 900.0  # writing the Flax model directory, once per model


def side_python() -> Path:
    """The side environment's interpreter: ``$ASRPERF_WHISPER_JAX_PYTHON`` or the repository's venv."""
    configured = os.environ.get(PYTHON_ENV_VAR)
    return Path(configured) if configured else _REPO / SIDE_ENV / "bin" / "python"


@lru_cache(maxsize=None)
def _probe_python(python: Path) -> str | None:
    if not python.exists():
        if os.environ.get(PYTHON_ENV_VAR):
            return (f"{PYTHON_ENV_VAR}={python} does not exist: point it at the Python of an environment "
                    f"built as `make whisper-jax-env` builds one, or unset it and {_BUILD}")
        return f"its side environment is missing ({python} does not exist): {_BUILD}"
    check = "import importlib.util, sys; sys.exit(importlib.util.find_spec('whisper_jax') is None)"
    try:
        done = subprocess.run([str(python), "-I", "-c", check], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"its side environment's Python {python} does not run ({exc}): {_BUILD}"
    if done.returncode != 0:
        return f"whisper_jax is not installed in its side environment ({python}): {_BUILD}"
    return None


def probe() -> str | None:
    """None when the side environment exists and has whisper_jax, else why not and what to run."""
    return _probe_python(side_python())


def _worker_env() -> dict:
    # The side environment must not see the main environment's packages.
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", PYTHON_ENV_VAR)}


def export_in_side_env(python: Path, directory: Path, timeout_s: float) -> None:
    """Run the worker script's ``export`` (msgpack + transformers-4.34 configs) in ``directory``."""
    try:
        done = subprocess.run([str(python), str(WORKER_SCRIPT), "export", str(directory)], capture_output=True,
                              text=True, timeout=timeout_s, env=_worker_env())
    except subprocess.TimeoutExpired:
        raise WorkerError(f"writing the whisper-jax Flax weights in {directory} took over {timeout_s:.0f} s") from None
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-20:])
        raise WeightsIntegrityError(f"the whisper-jax side environment could not write Flax weights "
                                    f"in {directory}:\n{tail}")


class UpstreamWhisperJaxPipeline(Pipeline):
    backend_name = "whisper-jax"

    def __init__(self, config: PipelineConfig, timeouts: Timeouts = Timeouts()):
        dtype = config.dtype or ("float16" if config.device == "gpu" else "float32")
        super().__init__(config, check_dtype(self.backend_name, dtype, _DTYPES, config.device))
        self.timeouts = timeouts
        python = side_python()
        model_dir = flax_model_dir(resolve_model(config.model),
                                   partial(export_in_side_env, python, timeout_s=timeouts.export_s))
        self.weights_sha256 = read_manifest(model_dir)["weights_sha256"]
        self._worker = WorkerProcess([str(python), str(WORKER_SCRIPT), "serve"], protocol=PROTOCOL,
                                     name=self.backend_name, start_timeout_s=timeouts.start_s, env=_worker_env())
        generation = _generation_request(config, model_dir)
        try:
            reply = self._worker.request({"op": "load", "model_dir": str(model_dir), "device": config.device,
                                          "dtype": dtype, "batch_size": config.batch_size or 1,
                                          "threads": config.threads, **generation}, timeout_s=timeouts.load_s)
        except Exception:
            self._worker.close()
            raise
        self.side_env_versions = self._worker.hello["versions"]
        self.generate_args = reply["generate_args"]
        self.decoding_args = reply["decoding_args"]
        self.threads = reply["threads"]
        self.worker_load_s = reply["load_s"]

    def _transcribe(self, samples: np.ndarray, stats: RunStats) -> list[Segment]:
        audio = np.ascontiguousarray(samples, dtype="<f4").tobytes()
        timeout = self.timeouts.call_s + self.timeouts.call_per_audio_s * stats.audio_s
        started = time.perf_counter()
        reply = self._worker.request({"op": "transcribe"}, audio, timeout_s=timeout)
        roundtrip_s = time.perf_counter() - started
        try:
            chunks = [{"timestamp": (start, end), "text": text} for start, end, text in reply["chunks"]]
            counts = {key: int(reply[key]) for key in ("windows", "tokens", "max_length_hits")}
            worker_s = float(reply["worker_s"])
        except (KeyError, TypeError, ValueError) as exc:
            raise WorkerError(f"the whisper-jax worker's transcription reply is malformed ({exc!r}); "
                              f"its stderr ends with:\n{self._worker.stderr_tail()}") from None
        stats.windows, stats.tokens, stats.max_length_hits = counts["windows"], counts["tokens"], \
            counts["max_length_hits"]
        stats.decoding = DecodingRecord.from_dict(self.decoding_args)  # the worker's generate call, read at load
        call = {"worker_s": worker_s, "roundtrip_s": roundtrip_s, "ipc_s": roundtrip_s - worker_s,
                "worker_peak_rss_mb": reply.get("peak_rss_mb")}
        stats.extra = {"worker_call": {key: None if value is None else round(value, 4) for key, value in call.items()}}
        return segments_from_chunks(chunks, stats.audio_s)

    def describe(self) -> dict:
        info = super().describe()
        info.update(
            longform="chunked",
            longform_detail=f"whisper-jax's FlaxWhisperPipline: 30 s chunks, 5 s strides, "
                            f"{self.config.batch_size or 1} per pmap'd generate call, merged by transformers "
                            "4.34's _decode_asr",
            threads=self.threads, threads_source="XLA CPU thread pool: the worker process's CPU affinity",
            generate_args=self.generate_args, upstream_rules=UPSTREAM_RULES,
            side_env_versions=self.side_env_versions, worker_load_s=round(self.worker_load_s, 3),
        )
        return info

    def close(self) -> None:
        """End the worker now (it also ends when the pipeline is collected, and at exit), then free the rest."""
        worker = self.__dict__.get("_worker")
        if worker is not None:
            worker.close()
        super().close()


def _generation_request(config: PipelineConfig, model_dir: Path) -> dict:
    """The suite's decoding settings, in the terms FlaxWhisperPipline's generate understands."""
    generation = json.loads((model_dir / "generation_config.json").read_text())
    decoding = config.decoding
    multilingual = bool(generation.get("is_multilingual"))
    prompt = 3 if multilingual else 1  # start token (+ language and task, forced by whisper-jax)
    return {
        "timestamps": decoding.timestamps,
        "language": decoding.language, "task": decoding.task,
        # Flax counts the start token and the forced prompt in max_length.
        "max_length": min(prompt + decoding.max_new_tokens, generation["max_length"]),
        "suppress_tokens": generation["suppress_tokens"],
        "begin_suppress_tokens": generation["begin_suppress_tokens"] if decoding.suppress_blank else [],
        "max_initial_timestamp_index": (round(decoding.max_initial_timestamp / 0.02)
                                        if decoding.max_initial_timestamp else None),
    }


def build(config: PipelineConfig) -> UpstreamWhisperJaxPipeline:
    return UpstreamWhisperJaxPipeline(config)
