"""The token ids and rules a self-written greedy decoder runs, framework-free (jax and torch ports).

``token_spec`` mirrors openai-whisper's ``DecodingTask`` set-up for greedy decoding: the
prompt, the always-suppressed tokens, the tokens banned as the first sample, and the
timestamp settings. Each port applies the same rules to its logits in its own array
library; what does not depend on the library (the spec, its vocabulary masks, and the
decoding record it amounts to) lives here, so both ports read one definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .decoding_record import DecodingRecord, language_and_task
from .tokens import Piece, split_segments


@dataclass(frozen=True)
class TokenSpec:
    """Token ids and rules, as openai-whisper's tokenizer gives them for the model (see ``tokens``)."""

    prompt: tuple[int, ...]
    eot: int
    timestamp_begin: int
    no_timestamps: int
    suppress: tuple[int, ...]  # always suppressed
    blank: tuple[int, ...]  # suppressed as the first sampled token
    max_initial_timestamp_index: int | None
    timestamps: bool
    max_new_tokens: int
    n_vocab: int

    @property
    def length(self) -> int:
        return len(self.prompt) + self.max_new_tokens


def token_spec(tokenizer, decoding, n_vocab: int, n_text_ctx: int) -> TokenSpec:
    """Mirror openai-whisper's DecodingTask set-up for greedy decoding."""
    prompt = list(tokenizer.sot_sequence)
    if not decoding.timestamps:
        prompt.append(tokenizer.no_timestamps)
    # suppress_tokens="-1": the non-speech symbols plus the special tokens a transcript never contains
    suppress = set(tokenizer.non_speech_tokens)
    suppress |= {tokenizer.transcribe, tokenizer.translate, tokenizer.sot, tokenizer.sot_prev, tokenizer.sot_lm}
    if tokenizer.no_speech is not None:
        suppress.add(tokenizer.no_speech)
    max_new = min(decoding.max_new_tokens, n_text_ctx - len(prompt))
    initial = None
    if decoding.max_initial_timestamp:
        initial = round(decoding.max_initial_timestamp / 0.02)  # timestamp tokens are 20 ms apart
    blank = tuple(tokenizer.encode(" ")) + (tokenizer.eot,) if decoding.suppress_blank else ()
    return TokenSpec(
        prompt=tuple(prompt), eot=tokenizer.eot, timestamp_begin=tokenizer.timestamp_begin,
        no_timestamps=tokenizer.no_timestamps, suppress=tuple(sorted(suppress)), blank=blank,
        max_initial_timestamp_index=initial, timestamps=decoding.timestamps,
        max_new_tokens=max_new, n_vocab=n_vocab,
    )


def vocabulary_mask(spec: TokenSpec, ids: tuple[int, ...]) -> np.ndarray:
    """[n_vocab] bool, True at ``ids`` (``spec.suppress`` or ``spec.blank``)."""
    mask = np.zeros(spec.n_vocab, bool)
    mask[list(ids)] = True
    return mask


def decoding_record(spec: TokenSpec, decode_text: Callable[[list[int]], str]) -> DecodingRecord:
    """What a decoder built from ``spec`` runs: its rules, and greedy argmax (the only sampling it has)."""
    prompt = [decode_text([t]) for t in spec.prompt]
    language, task = language_and_task(prompt)
    return DecodingRecord(
        beam_size=1, temperature=0.0, max_new_tokens=spec.max_new_tokens, suppress_tokens=spec.suppress,
        suppress_blank=bool(spec.blank), timestamps=spec.timestamps,
        max_initial_timestamp_index=spec.max_initial_timestamp_index if spec.timestamps else None,
        condition_on_previous_text="<|startofprev|>" in prompt, language=language, task=task,
    )


def batch_pieces(tokens: np.ndarray, n_tokens: np.ndarray, hit_max: np.ndarray, rows: int, spec: TokenSpec,
                 decode_text: Callable[[list[int]], str], stats) -> list[list[Piece]]:
    """A decoded batch's first ``rows`` rows ([B, prompt + max_new] tokens, counts, hit-max flags) → each
    window's (start, end, text) pieces; adds the windows, tokens and limit hits to ``stats`` (a ``RunStats``)."""
    prompt, pieces = len(spec.prompt), []
    for row in range(rows):
        stats.windows += 1
        stats.tokens += int(n_tokens[row])
        stats.max_length_hits += int(hit_max[row])
        sampled = tokens[row, prompt : prompt + int(n_tokens[row])]
        pieces.append(split_segments(sampled, spec.timestamp_begin, spec.eot, decode_text))
    return pieces
