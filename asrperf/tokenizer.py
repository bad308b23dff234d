"""Whisper's tokenizer on tiktoken, from openai-whisper's vocabulary files, without torch.

openai-whisper's ``Tokenizer`` needs only tiktoken and the two vocabulary files in its
``assets`` folder, but importing it runs ``whisper/__init__`` and so imports torch. This
module builds the same tiktoken encoding from the same files (see ``assets``) and gives
the same ids: special tokens, start-of-transcript sequence, non-speech tokens, encode and
decode (``tests/test_jax_tokens.py`` checks each against openai-whisper's tokenizer).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import cached_property, lru_cache

import tiktoken

from .errors import ConfigurationError
from .whisper_assets import whisper_asset

# The language tokens follow <|startoftranscript|> in this order; a model trained on N
# languages has the first N of them (99 up to large-v2, 100 from large-v3 on).
LANGUAGE_CODES = (
    "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv", "it", "id", "hi",
    "fi", "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no", "th", "ur", "hr", "bg", "lt", "la",
    "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr", "az", "sl", "kn", "et", "mk", "br", "eu", "is", "hy",
    "ne", "mn", "bs", "kk", "sq", "sw", "gl", "mr", "pa", "si", "km", "sn", "yo", "so", "af", "oc", "ka", "be",
    "tg", "sd", "gu", "am", "yi", "lo", "uz", "fo", "ht", "ps", "tk", "nn", "mt", "sa", "lb", "my", "bo", "tl",
    "mg", "as", "tt", "haw", "ln", "ha", "ba", "jw", "su", "yue",
)

# How text is split into words before byte-pair merging: GPT-2's rule, which both of
# Whisper's vocabularies were built with.
_WORD_SPLIT = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

# Timestamp tokens run from <|0.00|> to <|30.00|> in 20 ms steps.
N_TIMESTAMPS = 1501

# Speaker tags and non-speech annotations ("♪♪♪", "( SPEAKING FOREIGN LANGUAGE )",
# "[DAVID] Hey"), suppressed during decoding; plain punctuation stays allowed.
_NON_SPEECH_SYMBOLS = (*'"#()*+/:;<=>@[\\]^_`{|}~「」『』',
                       *"<< >> <<< >>> -- --- -( -[ (' (\" (( )) ((( ))) [[ ]] {{ }} ♪♪ ♪♪♪".split())
# Musical symbols (U+2640 to U+267F) are one token in one vocabulary and several in the
# other; their first token is suppressed either way: in UTF-8 it is a prefix the symbols
# of that block share, and no speech needs it.
_MUSIC_SYMBOLS = tuple("♩♪♫♬♭♮♯")


def _special_token_names(num_languages: int) -> list[str]:
    return [
        "<|endoftext|>", "<|startoftranscript|>",
        *(f"<|{code}|>" for code in LANGUAGE_CODES[:num_languages]),
        "<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>",
        *(f"<|{i * 0.02:.2f}|>" for i in range(N_TIMESTAMPS)),
    ]


@lru_cache(maxsize=None)
def encoding(name: str, num_languages: int) -> tiktoken.Encoding:
    """The tiktoken encoding of ``name`` ("gpt2" or "multilingual"), special tokens after the ranks."""
    ranks: dict[bytes, int] = {}
    with open(whisper_asset(f"{name}.tiktoken"), "rb") as vocabulary:
        for line in vocabulary:
            if line.strip():
                token, rank = line.split()
                ranks[base64.b64decode(token)] = int(rank)
    specials = {token: len(ranks) + i for i, token in enumerate(_special_token_names(num_languages))}
    return tiktoken.Encoding(name=f"{name}.tiktoken", pat_str=_WORD_SPLIT, mergeable_ranks=ranks,
                             special_tokens=specials, explicit_n_vocab=len(ranks) + len(specials))


@dataclass(frozen=True)
class WhisperTokenizer:
    """The token ids a decoder needs, named as openai-whisper's ``Tokenizer`` names them."""

    encoding: tiktoken.Encoding
    num_languages: int
    language: str | None  # None (and task None) for English-only models: no language or task token
    task: str | None

    def special(self, token: str) -> int:
        return self.encoding.encode_single_token(token)

    @cached_property
    def eot(self) -> int:
        return self.encoding.eot_token

    @cached_property
    def sot(self) -> int:
        return self.special("<|startoftranscript|>")

    @cached_property
    def translate(self) -> int:
        return self.special("<|translate|>")

    @cached_property
    def transcribe(self) -> int:
        return self.special("<|transcribe|>")

    @cached_property
    def sot_lm(self) -> int:
        return self.special("<|startoflm|>")

    @cached_property
    def sot_prev(self) -> int:
        return self.special("<|startofprev|>")

    @cached_property
    def no_speech(self) -> int:
        return self.special("<|nospeech|>")

    @cached_property
    def no_timestamps(self) -> int:
        return self.special("<|notimestamps|>")

    @cached_property
    def timestamp_begin(self) -> int:
        return self.special("<|0.00|>")

    @cached_property
    def sot_sequence(self) -> tuple[int, ...]:
        """<|startoftranscript|>, then the language and task tokens where the model has them."""
        sequence = [self.sot]
        if self.language is not None:
            sequence.append(self.special(f"<|{self.language}|>"))
        if self.task is not None:
            sequence.append(self.transcribe if self.task == "transcribe" else self.translate)
        return tuple(sequence)

    @cached_property
    def non_speech_tokens(self) -> tuple[int, ...]:
        """Tokens that start a speaker tag or an annotation, alone or after a space.

        A hyphen or a quote is kept inside words ("well-known", "don't") and banned only
        where it would open one (" -", " '"). A symbol that takes several tokens is left
        alone, except the musical ones (see ``_MUSIC_SYMBOLS``).
        """
        # encode_ordinary: none of these texts holds a special token, and skipping tiktoken's
        # special-token check skips compiling a regex over all 1,600 special tokens (~0.5 s).
        encode = self.encoding.encode_ordinary
        banned = {encode(" -")[0], encode(" '")[0]}
        for symbol in (*_NON_SPEECH_SYMBOLS, *_MUSIC_SYMBOLS):
            for tokens in (encode(symbol), encode(" " + symbol)):
                if len(tokens) == 1 or symbol in _MUSIC_SYMBOLS:
                    banned.add(tokens[0])
        return tuple(sorted(banned))

    def encode(self, text: str) -> list[int]:
        """Plain text → token ids (text that spells a special token is encoded as plain text)."""
        return self.encoding.encode_ordinary(text)

    def decode(self, tokens) -> str:
        """Token ids → text, leaving out timestamp tokens."""
        return self.encoding.decode([t for t in tokens if t < self.timestamp_begin])


def is_multilingual(n_vocab: int) -> bool:
    """openai-whisper's rule: the English-only vocabulary has 51864 entries, the others more."""
    return n_vocab >= 51865


def tokenizer_for_model(n_vocab: int, language: str = "en", task: str = "transcribe") -> WhisperTokenizer:
    """The tokenizer of a model with ``n_vocab`` tokens, as openai-whisper picks it.

    English-only models get GPT-2's vocabulary with no language or task token. Multilingual
    ones get the multilingual vocabulary with as many language tokens as the embedding has
    rows for, and ``language`` (a code such as "en") and ``task`` in the prompt.
    """
    multilingual = is_multilingual(n_vocab)
    # The vocabulary is 50256 text tokens (one more in the multilingual one) + <|endoftext|>
    # ... <|notimestamps|> (8 + N language tokens) + 1501 timestamps = 51765 + N (+ 1).
    num_languages = n_vocab - 51765 - int(multilingual)
    if not multilingual:
        return WhisperTokenizer(encoding("gpt2", num_languages), num_languages, None, None)
    if language not in LANGUAGE_CODES[:num_languages]:
        raise ConfigurationError(
            f"language {language!r} is not one of this model's {num_languages} language codes "
            f"({', '.join(LANGUAGE_CODES[:num_languages])}); pass a code such as 'en'"
        )
    if task not in ("transcribe", "translate"):
        raise ConfigurationError(f"task must be 'transcribe' or 'translate', not {task!r}")
    return WhisperTokenizer(encoding("multilingual", num_languages), num_languages, language, task)
