"""The jax backend's torch-free tokenizer gives openai-whisper's token ids."""

import pytest

pytestmark = pytest.mark.cpu
pytest.importorskip("tiktoken", reason="pip install 'asrperf[jax]'")
whisper_tokenizer = pytest.importorskip("whisper.tokenizer", reason="the reference is openai-whisper's tokenizer: "
                                                                    "pip install 'asrperf[torch]'")

from asrperf import tokenizer  # noqa: E402
from asrperf.backends.jax_whisper import decode  # noqa: E402
from asrperf.config import DecodingSettings  # noqa: E402
from asrperf.errors import ConfigurationError  # noqa: E402

TINY_EN_VOCAB, BASE_VOCAB, LARGE_V3_VOCAB = 51864, 51865, 51866

SPECIALS = ("eot", "sot", "translate", "transcribe", "sot_lm", "sot_prev", "no_speech", "no_timestamps",
            "timestamp_begin", "sot_sequence", "non_speech_tokens")
TEXTS = ("", " ", "Hello world.", " don't -- (laughs) ♪ «quoted» 3.14", "Grüße, 你好, привет!")


def theirs(n_vocab, language=None, task=None):
    multilingual = n_vocab >= 51865
    return whisper_tokenizer.get_tokenizer(multilingual, num_languages=n_vocab - 51765 - int(multilingual),
                                           language=language, task=task)


@pytest.mark.parametrize("n_vocab, language, task", [
    (TINY_EN_VOCAB, "en", "transcribe"),  # English-only (tiny.en): no language or task token
    (BASE_VOCAB, "en", "transcribe"),
    (BASE_VOCAB, "en", "translate"),
    (BASE_VOCAB, "fr", "transcribe"),
    (LARGE_V3_VOCAB, "yue", "transcribe"),  # the 100th language, large-v3's only
], ids=["tiny.en", "base-en-transcribe", "base-en-translate", "base-fr", "large-v3-yue"])
def test_ids_match_openai_whisper(n_vocab, language, task):
    ours = tokenizer.tokenizer_for_model(n_vocab, language, task)
    reference = theirs(n_vocab, language, task)
    for name in SPECIALS:
        assert getattr(ours, name) == getattr(reference, name), name
    assert ours.encoding.n_vocab == reference.encoding.n_vocab == n_vocab
    assert ours.sot_sequence[0] == ours.sot
    if n_vocab == TINY_EN_VOCAB:
        assert ours.sot_sequence == (ours.sot,)
    else:
        assert len(ours.sot_sequence) == 3
    assert tokenizer.LANGUAGE_CODES == tuple(whisper_tokenizer.LANGUAGES)
    for text in TEXTS:
        ids = ours.encode(text)
        assert ids == reference.encode(text), text
        assert ours.decode(ids) == reference.decode(ids) == text
    with_timestamps = [ours.timestamp_begin, *ours.encode(" Hi there."), ours.timestamp_begin + 50, ours.eot]
    assert ours.decode(with_timestamps) == reference.decode(with_timestamps)


@pytest.mark.parametrize("n_vocab", [TINY_EN_VOCAB, BASE_VOCAB])
@pytest.mark.parametrize("settings", [DecodingSettings(), DecodingSettings(timestamps=False, task="translate")],
                         ids=["default", "no-timestamps-translate"])
def test_token_spec_is_the_same_from_either_tokenizer(n_vocab, settings):
    ours = tokenizer.tokenizer_for_model(n_vocab, settings.language, settings.task)
    reference = theirs(n_vocab, settings.language if n_vocab >= 51865 else None,
                       settings.task if n_vocab >= 51865 else None)
    assert decode.token_spec(ours, settings, n_vocab, 448) == decode.token_spec(reference, settings, n_vocab, 448)


def test_unknown_language_is_a_clear_error():
    with pytest.raises(ConfigurationError, match="language 'english' is not one of"):
        tokenizer.tokenizer_for_model(BASE_VOCAB, "english")
    with pytest.raises(ConfigurationError, match="'yue'"):
        tokenizer.tokenizer_for_model(BASE_VOCAB, "yue")  # base knows 99 languages; yue is the 100th
