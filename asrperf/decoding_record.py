"""What a backend actually asked its library to do, in one form for every backend.

``DecodingSettings`` is what asrperf *wants*; a ``DecodingRecord`` is what a backend
*passed*: each backend fills one from the call it made (openai-whisper's
``DecodingOptions`` and the ``DecodingTask`` built from them, CTranslate2's generate
arguments, transformers' generate arguments and generation config, the jax backend's
``TokenSpec``). Equal records across backends are the proof that a row compares
frameworks and not settings.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, fields

#: Whisper's timestamp tokens are 20 ms apart.
TIMESTAMP_PRECISION_S = 0.02


@dataclass(frozen=True)
class DecodingRecord:
    beam_size: int  # 1: greedy
    temperature: float  # 0.0: argmax, no sampling
    max_new_tokens: int  # sampled tokens a window may take, end-of-text included
    suppress_tokens: tuple[int, ...]  # every token id banned at every step, sorted
    suppress_blank: bool  # a blank and end-of-text are banned as the first sampled token
    timestamps: bool  # timestamp tokens sampled under openai-whisper's rules
    max_initial_timestamp_index: int | None  # latest first timestamp, in 20 ms steps
    condition_on_previous_text: bool  # the previous window's text is in the prompt
    language: str
    task: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "suppress_tokens", tuple(sorted(set(int(t) for t in self.suppress_tokens))))

    @classmethod
    def from_dict(cls, values: dict) -> "DecodingRecord":
        """From a plain mapping (e.g. a worker's JSON); ``suppress_tokens`` as any iterable of ids."""
        names = {f.name for f in fields(cls)}
        unknown = set(values) - names - {"suppress_tokens_count", "suppress_tokens_sha256"}
        missing = names - set(values)
        if unknown or missing:
            raise ValueError(f"decoding record fields: missing {sorted(missing)}, unknown {sorted(unknown)}")
        return cls(**{name: values[name] for name in names})

    def as_dict(self) -> dict:
        """Every field, JSON-ready (the full suppress list)."""
        record = asdict(self)
        record["suppress_tokens"] = list(self.suppress_tokens)
        return record

    def summary(self) -> dict:
        """For result rows: the suppress list as its size and a digest, so rows stay readable."""
        record = asdict(self)
        del record["suppress_tokens"]
        record["suppress_tokens_count"] = len(self.suppress_tokens)
        record["suppress_tokens_sha256"] = hashlib.sha256(
            ",".join(map(str, self.suppress_tokens)).encode()).hexdigest()[:16]
        return record


def initial_timestamp_index(seconds: float | None) -> int | None:
    """openai-whisper's ``max_initial_timestamp`` in seconds → its index (None or 0: no bound)."""
    return round(seconds / TIMESTAMP_PRECISION_S) if seconds else None


_LANGUAGE_TOKEN = re.compile(r"<\|([a-z]{2,3})\|>")  # <|en|>, <|haw|>; specials are longer


def language_and_task(prompt_tokens: list[str]) -> tuple[str, str]:
    """The language and task a decoder prompt (its tokens as text) asks for.

    English-only models take neither a language nor a task token: they transcribe English.
    """
    language = next((m.group(1) for t in prompt_tokens if (m := _LANGUAGE_TOKEN.fullmatch(t))), "en")
    task = "translate" if "<|translate|>" in prompt_tokens else "transcribe"
    return language, task
