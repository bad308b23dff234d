"""Word error rate the way the ASR community computes it: whisper's English normaliser, then jiwer."""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence


@lru_cache(maxsize=1)
def _normalizer():
    try:
        from whisper.normalizers import EnglishTextNormalizer
    except ImportError:
        from .errors import BackendUnavailableError

        raise BackendUnavailableError("WER needs openai-whisper's text normaliser: pip install 'asrperf[torch]'") from None
    return EnglishTextNormalizer()


def normalize(text: str) -> str:
    return _normalizer()(text)


def wer(reference: str | Sequence[str], hypothesis: str | Sequence[str]) -> float:
    """Corpus WER (total edits / total reference words) after normalisation."""
    import jiwer

    refs = [reference] if isinstance(reference, str) else list(reference)
    hyps = [hypothesis] if isinstance(hypothesis, str) else list(hypothesis)
    refs = [normalize(r) for r in refs]
    hyps = [normalize(h) for h in hyps]
    if not any(refs):
        raise ValueError("WER is undefined for an empty reference")
    # jiwer refuses empty reference strings; a pair with an empty reference only adds insertions.
    pairs = [(r, h) for r, h in zip(refs, hyps) if r]
    insertions = sum(len(h.split()) for r, h in zip(refs, hyps) if not r)
    output = jiwer.process_words([r for r, _ in pairs], [h for _, h in pairs])
    words = sum(len(r.split()) for r, _ in pairs)
    edits = output.substitutions + output.deletions + output.insertions + insertions
    return edits / words
