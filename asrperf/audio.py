"""Turn anything that could be speech into float32 mono 16 kHz samples.

Files and bytes are decoded with PyAV, which bundles FFmpeg's libraries, so no
system ``ffmpeg`` binary is needed (openai-whisper's own loader shells out to one).
Arrays go through the same PyAV resampler, so every input path shares one
resampling implementation.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Union

import numpy as np

from .errors import AudioError

SAMPLE_RATE = 16_000
# Arrays whose values exceed this are almost certainly unscaled integer PCM stored
# as floats; transcribing them would be silently wrong, so they are refused.
_MAX_FLOAT_AMPLITUDE = 1.5
# A channel axis longer than this is more likely a time axis.
_MAX_CHANNELS = 16

AudioInput = Union[str, os.PathLike, bytes, bytearray, np.ndarray]


def load_audio(source: AudioInput, sample_rate: int | None = None) -> np.ndarray:
    """Return ``source`` as a 1-D float32 array at 16 kHz.

    ``sample_rate`` is the rate of an array input (default 16 kHz); files and bytes
    carry their own rate and must not pass one.
    """
    if isinstance(source, np.ndarray):
        return _from_array(source, SAMPLE_RATE if sample_rate is None else sample_rate)
    if sample_rate is not None:
        raise AudioError("sample_rate applies only to numpy arrays: files and bytes carry their own rate")
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise AudioError("the audio bytes are empty: pass the contents of an audio file")
        _check_wav_complete(bytes(source[:_RIFF_PROBE_BYTES]), len(source), "<bytes>")
        return _decode(io.BytesIO(bytes(source)), "<bytes>")
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise AudioError(f"audio file not found: {path} (check the path)")
        if path.is_dir():
            raise AudioError(f"{path} is a directory, not an audio file: pass the files inside it")
        with open(path, "rb") as head:
            _check_wav_complete(head.read(_RIFF_PROBE_BYTES), path.stat().st_size, str(path))
        return _decode(str(path), str(path))
    raise AudioError(
        f"cannot read audio from a {type(source).__name__}: pass a file path, the file's bytes, "
        "or a numpy array of samples"
    )


_RIFF_PROBE_BYTES = 1 << 16
_STREAMED_WAV_PLACEHOLDER = 0x7FFF0000


def _check_wav_complete(head: bytes, total_size: int, label: str) -> None:
    """Refuse a WAV whose data chunk is shorter than its header declares.

    FFmpeg decodes a truncated WAV without complaint and returns the part that is
    there, which would make a benchmark silently measure less audio than claimed.
    """
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return
    offset = 12
    while offset + 8 <= len(head):
        chunk_id = head[offset : offset + 4]
        chunk_size = int.from_bytes(head[offset + 4 : offset + 8], "little")
        if chunk_id == b"data":
            available = total_size - (offset + 8)
            # Streaming writers (espeak-ng --stdout, ffmpeg to a pipe) put a placeholder
            # near 2**31 or 2**32 because they cannot seek back: that means "unknown".
            if chunk_size < _STREAMED_WAV_PLACEHOLDER and available < chunk_size:
                raise AudioError(
                    f"{label} is a truncated WAV: its header declares {chunk_size} bytes of samples "
                    f"but only {max(available, 0)} are present; re-export or re-download it"
                )
            return
        offset += 8 + chunk_size + (chunk_size & 1)


def _decode(file: str | io.BytesIO, label: str) -> np.ndarray:
    import av  # imported here so that array-only users never pay for FFmpeg

    try:
        container = av.open(file, mode="r", metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise AudioError(f"{label} could not be opened as audio ({exc}): is it an audio file?") from None
    with container:
        if not container.streams.audio:
            raise AudioError(f"{label} contains no audio stream")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        stream = container.streams.audio[0]
        estimate = 0
        if stream.duration and stream.time_base:
            estimate = int(float(stream.duration * stream.time_base) * SAMPLE_RATE)
        elif container.duration:
            estimate = int(container.duration / 1_000_000 * SAMPLE_RATE)
        out = _Growing(estimate + SAMPLE_RATE)
        try:
            # Frame by frame into one preallocated buffer: a two-hour file costs about
            # one copy of its 16 kHz samples, not a list of pieces plus their concatenation.
            for frame in container.decode(audio=0):
                for resampled in resampler.resample(frame):
                    out.append(resampled.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            if not out.size:
                raise AudioError(f"{label} could not be decoded as audio ({exc}): is it truncated or corrupt?") from None
            raise AudioError(
                f"{label} is truncated or corrupt: decoding stopped after "
                f"{out.size / SAMPLE_RATE:.2f} s ({exc}); re-encode or re-download it"
            ) from None
        for resampled in resampler.resample(None):
            out.append(resampled.to_ndarray().reshape(-1))
    samples = out.result()
    return _check_finite(samples, label)


class _Growing:
    """An append-only float32 buffer that doubles when an estimate falls short."""

    def __init__(self, capacity: int):
        self._data = np.empty(max(capacity, 1), np.float32)
        self.size = 0

    def append(self, piece: np.ndarray) -> None:
        end = self.size + len(piece)
        if end > len(self._data):
            self._data = np.resize(self._data, max(end, 2 * len(self._data)))
        self._data[self.size : end] = piece
        self.size = end

    def result(self) -> np.ndarray:
        if self.size == len(self._data):
            return self._data
        # Trimming copies once; for a close estimate the slack is small, so keep a view when it is.
        slack = len(self._data) - self.size
        return self._data[: self.size] if slack <= 2 * SAMPLE_RATE else self._data[: self.size].copy()


def _from_array(array: np.ndarray, sample_rate: int) -> np.ndarray:
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise AudioError(f"sample_rate must be a positive integer number of Hz, got {sample_rate!r}")
    samples = _to_float(array)
    samples = _to_mono(samples)
    samples = _check_finite(samples, "the audio array")
    if np.abs(samples).max(initial=0.0) > _MAX_FLOAT_AMPLITUDE:
        raise AudioError(
            f"the float audio array peaks at {np.abs(samples).max():.1f}, far outside [-1, 1]: "
            "it looks like integer PCM stored as floats; divide by 32768 (16-bit) first"
        )
    if sample_rate != SAMPLE_RATE and samples.size:
        samples = _resample(samples, int(sample_rate))
    return np.ascontiguousarray(samples, dtype=np.float32)


def _to_float(array: np.ndarray) -> np.ndarray:
    if array.dtype.kind == "f":
        return array.astype(np.float32, copy=False)
    if array.dtype.kind == "i":
        return (array.astype(np.float64) / -float(np.iinfo(array.dtype).min)).astype(np.float32)
    if array.dtype.kind == "u":
        info = np.iinfo(array.dtype)
        middle = (info.max + 1) / 2
        return ((array.astype(np.float64) - middle) / middle).astype(np.float32)
    raise AudioError(f"audio arrays must hold integer or float samples, not {array.dtype}")


def _to_mono(samples: np.ndarray) -> np.ndarray:
    if samples.ndim == 1:
        return samples
    if samples.ndim == 2:
        channel_axis = int(np.argmin(samples.shape))
        if samples.shape[channel_axis] <= _MAX_CHANNELS:
            return samples.mean(axis=channel_axis, dtype=np.float32)
    raise AudioError(
        f"audio array of shape {samples.shape} is not a signal: pass 1-D samples, "
        f"or 2-D (samples, channels) with at most {_MAX_CHANNELS} channels"
    )


def _check_finite(samples: np.ndarray, label: str) -> np.ndarray:
    bad = ~np.isfinite(samples)
    if bad.any():
        first = int(np.argmax(bad))
        raise AudioError(
            f"{label} holds {int(bad.sum())} NaN or infinite samples (first at {first / SAMPLE_RATE:.3f} s): "
            "fix or drop them before transcribing"
        )
    return samples


def _resample(samples: np.ndarray, rate: int) -> np.ndarray:
    import av

    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    out = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def write_wav(path: str | os.PathLike, samples: np.ndarray) -> None:
    """Write 16 kHz mono samples as 16-bit PCM WAV (the corpus's storage format)."""
    import wave

    pcm = np.clip(np.round(np.asarray(samples, np.float32) * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.tobytes())


def duration_s(samples: np.ndarray) -> float:
    return len(samples) / SAMPLE_RATE
