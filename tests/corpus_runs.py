"""Which backends and utterances the agreement checks use (one place for both test files)."""

import pytest

from asrperf.corpus import utterances

#: name → pipeline settings (tiny.en, CPU, greedy)
AGREEMENT_BACKENDS = {
    "openai-whisper": dict(backend="openai-whisper"),
    "jax": dict(backend="jax", batch_size=1),
    "faster-whisper": dict(backend="faster-whisper"),
    "transformers": dict(backend="transformers", batch_size=4),
    "whisper-jax": dict(backend="whisper-jax", batch_size=1),  # upstream, in its side environment
}


def agreement_backend_params() -> list:
    """AGREEMENT_BACKENDS as pytest parameters: whisper-jax's clips decode in its worker process, so they
    are ``processes`` tests (make test runs them; the laptop check, ``-m cpu``, leaves them out)."""
    return [pytest.param(name, marks=pytest.mark.processes) if name == "whisper-jax" else name
            for name in AGREEMENT_BACKENDS]


#: every second utterance: all voices and speeds, half the time
AGREEMENT_SUBSET = utterances()[::2]
#: the handful of clips the laptop check (`-m cpu`) runs every backend on: the first of
#: ``agreement_utterances``; the whole corpus is a calibration run
CLIPS = 4


def agreement_utterances(real_corpus):
    """The real corpus's utterances when one is in use (the ``real_corpus`` fixture), else AGREEMENT_SUBSET."""
    return list(real_corpus.utterances) if real_corpus is not None else AGREEMENT_SUBSET
