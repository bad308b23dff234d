"""Which backends and utterances the agreement checks use (one place for both test files)."""

from asrperf.corpus import utterances

#: name → pipeline settings (tiny.en, CPU, greedy)
AGREEMENT_BACKENDS = {
    "openai-whisper": dict(backend="openai-whisper"),
    "jax": dict(backend="jax", batch_size=1),
    "faster-whisper": dict(backend="faster-whisper"),
    "transformers": dict(backend="transformers", batch_size=4),
    "whisper-jax": dict(backend="whisper-jax", batch_size=1),  # upstream, in its side environment
}
#: every second utterance: all voices and speeds, half the time
AGREEMENT_SUBSET = utterances()[::2]
#: the handful of clips the laptop check (`-m cpu`) runs every backend on: the first of
#: ``agreement_utterances``; the whole corpus is a calibration run
CLIPS = 4


def agreement_utterances(real_corpus):
    """The real corpus's utterances when one is in use (the ``real_corpus`` fixture), else AGREEMENT_SUBSET."""
    return list(real_corpus.utterances) if real_corpus is not None else AGREEMENT_SUBSET
