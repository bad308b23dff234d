"""openai-whisper's log-mel of a whole recording, in JAX, for the sequential long-form.

``whisper.transcribe`` computes one log-mel for the whole audio (with 30 s of silence
appended) and normalises it by the maximum over *all* of it; each 30 s window is then a
slice, the last one padded with zeros. The chunked algorithm normalises each window on
its own instead (``model.log_mel``). The sequential jax pipeline must see the same
numbers as openai-whisper, so this module reproduces the whole-audio recipe: the STFT
runs in fixed blocks of 3000 frames (one compile for every length), the maximum is
taken over every frame, and windows are sliced from the result.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from .model import CHUNK_SAMPLES, HOP_LENGTH, N_FFT, N_FRAMES

#: Samples a block of N_FRAMES frames reads: frame t covers samples [t * hop, t * hop + n_fft).
BLOCK_SAMPLES = (N_FRAMES - 1) * HOP_LENGTH + N_FFT
#: Past the audio, frames that still overlap it (the STFT window reaches 200 samples back).
_EDGE_FRAMES = math.ceil(N_FFT / HOP_LENGTH)


def raw_log_mel(blocks: jax.Array, filters: jax.Array) -> jax.Array:
    """[B, BLOCK_SAMPLES] already-padded samples → [B, n_mels, N_FRAMES] log10 mel power, not yet normalised."""
    starts = jnp.arange(N_FRAMES) * HOP_LENGTH
    frames = blocks[:, starts[:, None] + jnp.arange(N_FFT)[None, :]]
    window = 0.5 - 0.5 * jnp.cos(2 * jnp.pi * jnp.arange(N_FFT) / N_FFT)  # periodic Hann, as torch's
    power = jnp.abs(jnp.fft.rfft(frames * window, axis=-1)) ** 2
    return jnp.log10(jnp.maximum(jnp.einsum("mf,btf->bmt", filters, power), 1e-10))


def blocks(samples: np.ndarray) -> tuple[np.ndarray, int]:
    """16 kHz samples → ([n_blocks, BLOCK_SAMPLES] STFT input, frames of real audio).

    As openai-whisper: 30 s of silence appended, then the centred STFT's reflect padding.
    Enough blocks to cover every frame that touches the audio; the frames after those hold
    silence only (log10 floor -10), so they cannot raise the maximum and need no computing.
    """
    content_frames = len(samples) // HOP_LENGTH
    padded = np.pad(np.concatenate([samples.astype(np.float32), np.zeros(CHUNK_SAMPLES, np.float32)]),
                    N_FFT // 2, mode="reflect")
    n_blocks = math.ceil((content_frames + _EDGE_FRAMES + 1) / N_FRAMES)
    needed = (n_blocks - 1) * N_FRAMES * HOP_LENGTH + BLOCK_SAMPLES
    padded = np.pad(padded, (0, max(0, needed - len(padded))))
    step = N_FRAMES * HOP_LENGTH
    return np.stack([padded[b * step : b * step + BLOCK_SAMPLES] for b in range(n_blocks)]), content_frames


def normalise(raw: list[np.ndarray], content_frames: int) -> np.ndarray:
    """Raw per-block log-mel [n_mels, N_FRAMES] each → [n_mels, content_frames], scaled by the global maximum."""
    log_spec = np.concatenate(raw, axis=-1)
    peak = max(float(log_spec.max()), -10.0)  # the appended silence's floor takes part in openai-whisper's max
    log_spec = np.maximum(log_spec[:, :content_frames], peak - 8.0)
    return ((log_spec + 4.0) / 4.0).astype(np.float32)
