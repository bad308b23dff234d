"""Bring-your-own corpus: the three transcript layouts, their errors, the in-order long-form, real-speech WER."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from asrperf import tolerances
from asrperf.audio import SAMPLE_RATE, load_audio, write_wav
from asrperf.bench import audio_cases
from asrperf.cli import main
from asrperf.corpus import concatenate, utterances
from asrperf.corpus.external import LIBRISPEECH, LJSPEECH, TSV, read_corpus
from asrperf.errors import AudioError, ConfigurationError
from asrperf.metrics import wer

from .conftest import encode_audio
from .corpus_runs import CLIPS, agreement_backend_params, agreement_utterances

pytestmark = pytest.mark.cpu


def tone(seconds: float, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


@pytest.fixture
def tsv_corpus(tmp_path):
    """Listed out of alphabetical order, so reading in file order shows."""
    write_wav(tmp_path / "b.wav", tone(1.0))
    (tmp_path / "sub").mkdir()
    write_wav(tmp_path / "sub" / "a.wav", tone(0.5, 660))
    (tmp_path / TSV).write_text("b.wav\tThe  first one.\n\nsub/a.wav\tthe second\n")
    return tmp_path


def test_transcripts_tsv_in_file_order(tsv_corpus):
    corpus = read_corpus(tsv_corpus)
    assert corpus.layout == TSV and corpus.name == tsv_corpus.name
    assert [(u.id, u.text, u.duration_s) for u in corpus.utterances] == [("b", "The first one.", 1.0),
                                                                        ("a", "the second", 0.5)]
    assert corpus.utterances[1].path == tsv_corpus / "sub" / "a.wav"
    assert np.array_equal(corpus.utterances[0].samples(), load_audio(tsv_corpus / "b.wav"))
    assert corpus.duration_s == 1.5


def test_ljspeech_metadata_prefers_the_normalised_text(tmp_path):
    (tmp_path / "wavs").mkdir()
    write_wav(tmp_path / "wavs" / "LJ001-0002.wav", tone(0.75))
    write_wav(tmp_path / "wavs" / "LJ001-0001.wav", tone(0.25))
    (tmp_path / LJSPEECH).write_text("LJ001-0002|In 1480 it was|In fourteen eighty it was\n"
                                     "LJ001-0001|Only the raw text|\n")
    corpus = read_corpus(tmp_path)
    assert corpus.layout == LJSPEECH
    assert [(u.id, u.text, u.duration_s) for u in corpus.utterances] == [
        ("LJ001-0002", "In fourteen eighty it was", 0.75), ("LJ001-0001", "Only the raw text", 0.25)]


def test_librispeech_nested_flac_in_natural_folder_order(tmp_path):
    # Folders are speaker/chapter numbers: 19 before 84 before 100, though "100" < "19" as strings.
    for speaker, chapter, lines in [("100", "5", ["100-5-0000 LAST SPEAKER"]),
                                    ("19", "198", ["19-198-0001 SECOND LINE", "19-198-0000 FIRST LINE"]),
                                    ("84", "7", ["84-7-0000 MIDDLE"])]:
        folder = tmp_path / speaker / chapter
        folder.mkdir(parents=True)
        for line in lines:
            encode_audio(folder / f"{line.split()[0]}.flac", tone(0.5), SAMPLE_RATE, "flac")
        (folder / f"{speaker}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    corpus = read_corpus(tmp_path)
    assert corpus.layout == LIBRISPEECH
    assert [u.id for u in corpus.utterances] == ["19-198-0001", "19-198-0000", "84-7-0000", "100-5-0000"]
    assert corpus.utterances[0].text == "SECOND LINE" and corpus.utterances[0].path.suffix == ".flac"
    assert all(abs(u.duration_s - 0.5) < 0.01 for u in corpus.utterances)


@pytest.mark.parametrize("transcript,content,error,message", [
    (TSV, "a.wav\tfine\nmissing.wav\tgone\n", AudioError, r"transcripts.tsv:2 names missing.wav, which is not in"),
    (TSV, "a.wav has no tab\n", ConfigurationError, "found no tab"),
    (TSV, "a.wav\t   \n", ConfigurationError, "transcript is empty"),
    (TSV, "a.wav\tonce\na.wav\ttwice\n", ConfigurationError, "listed twice"),
    (TSV, "\n\n", ConfigurationError, "list no utterances"),
    (LJSPEECH, "LJ9\n", ConfigurationError, r"expected id\|text"),
    (LJSPEECH, "LJ9|text|\n", AudioError, "names LJ9.wav"),
    ("1-2.trans.txt", "1-2-0000 HELLO\n", AudioError, "names 1-2-0000.flac"),
])
def test_bad_transcripts_say_where_and_what(tmp_path, transcript, content, error, message):
    write_wav(tmp_path / "a.wav", tone(0.2))
    (tmp_path / transcript).write_text(content)
    with pytest.raises(error, match=message):
        read_corpus(tmp_path)


def test_bad_folders_say_what_to_do(tmp_path):
    with pytest.raises(ConfigurationError, match="does not exist"):
        read_corpus(tmp_path / "nowhere")
    with pytest.raises(ConfigurationError, match="is empty"):
        read_corpus(tmp_path)
    write_wav(tmp_path / "a.wav", tone(0.2))
    with pytest.raises(ConfigurationError, match="is a file"):
        read_corpus(tmp_path / "a.wav")
    with pytest.raises(ConfigurationError, match="has no transcripts: add a transcripts.tsv"):
        read_corpus(tmp_path)


def test_broken_audio_is_named_when_read(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"not audio at all")
    (tmp_path / TSV).write_text("a.wav\tsomething\n")
    with pytest.raises(AudioError, match="a.wav"):
        read_corpus(tmp_path)


def test_concatenate_keeps_order_and_fixed_pauses(tsv_corpus):
    items = read_corpus(tsv_corpus).utterances
    whole = concatenate(items, gap_s=0.25)
    assert whole.reference == "The first one. the second"
    assert [p[0] for p in whole.pieces] == ["b", "a"]
    assert whole.pieces[1][1] == pytest.approx(1.25) and whole.duration_s == pytest.approx(1.75)
    for (utt_id, start, end), u in zip(whole.pieces, items):
        assert np.array_equal(whole.samples[round(start * SAMPLE_RATE) : round(end * SAMPLE_RATE)], u.samples())
    assert not whole.samples[SAMPLE_RATE : round(1.25 * SAMPLE_RATE)].any()
    assert not whole.samples.flags.writeable
    # The shipped corpus's utterances have the same shape.
    assert concatenate(utterances()[:2]).reference == f"{utterances()[0].text} {utterances()[1].text}"
    with pytest.raises(ConfigurationError, match="at least one"):
        concatenate([])
    with pytest.raises(ConfigurationError, match=">= 0"):
        concatenate(items, gap_s=-1)


def test_real_audio_cases_come_from_the_named_corpus(tsv_corpus, tmp_path_factory):
    assert "real-all" in audio_cases.available_audio_cases(tsv_corpus)
    assert "real-all" not in audio_cases.available_audio_cases(None)
    first, whole = audio_cases.audio_case("real-utt", tsv_corpus), audio_cases.audio_case("real-all", tsv_corpus)
    assert first.reference == "The first one." and first.duration_s == 1.0 and str(tsv_corpus) in first.source
    assert whole.reference == "The first one. the second" and whole.duration_s == pytest.approx(2.0)  # 0.5 s pause
    written = audio_cases.audio_case_file("real-all", tmp_path_factory.mktemp("cases"), tsv_corpus)
    assert len(load_audio(written)) == len(whole.samples)
    with pytest.raises(ConfigurationError, match="needs a corpus folder"):
        audio_cases.audio_case("real-all")
    with pytest.raises(ConfigurationError, match="unknown audio case"):
        audio_cases.audio_case("2min")


def test_corpus_choice_default_override_and_none(tmp_path, monkeypatch):
    monkeypatch.delenv(audio_cases.CORPUS_ENV, raising=False)
    default = audio_cases.DEFAULT_CORPUS
    assert audio_cases.default_corpus_dir() == (default if default.is_dir() else None)
    assert audio_cases.resolve_corpus_dir(tmp_path) == tmp_path.resolve()
    assert audio_cases.resolve_corpus_dir("none") is None
    monkeypatch.setenv(audio_cases.CORPUS_ENV, str(tmp_path))
    assert audio_cases.default_corpus_dir() == tmp_path.resolve()
    with pytest.raises(ConfigurationError, match="does not exist"):
        audio_cases.resolve_corpus_dir(tmp_path / "typo")
    assert "falling back to the synthetic" in audio_cases.corpus_notice(None)
    assert str(tmp_path) in audio_cases.corpus_notice(tmp_path)


def test_pytest_says_when_it_falls_back_to_synthetic_speech():
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                          "tests/test_corpus.py", "--asrperf-corpus", "none"], capture_output=True, text=True,
                         cwd=Path(__file__).parents[1])
    assert out.returncode == 0 and "falling back to the synthetic espeak-ng corpus" in out.stdout


def test_cli_lists_and_composes_in_order(tsv_corpus, tmp_path, capsys):
    assert main(["corpus", "list", "--corpus", str(tsv_corpus)]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in listing[1:]] == ["b", "a"] and "2 utterances" in listing[0]
    target = tmp_path / "out" / "all.wav"
    target.parent.mkdir()
    assert main(["corpus", "compose", "--corpus", str(tsv_corpus), "-o", str(target)]) == 0
    assert len(load_audio(target)) == int(2.0 * SAMPLE_RATE)
    assert (tmp_path / "out" / "all.txt").read_text().strip() == "The first one. the second"
    assert main(["corpus", "compose", "--corpus", str(tsv_corpus), "--seconds", "5"]) == 2
    assert "leave --seconds out" in capsys.readouterr().err


def test_cli_scores_a_backend_on_a_corpus(tmp_path, capsys):
    # Two synthetic sentences as a corpus of one's own: tiny.en gets most words right.
    lines = []
    for u in utterances()[:2]:
        (tmp_path / u.path.name).write_bytes(u.path.read_bytes())
        lines.append(f"{u.path.name}\t{u.text}")
    (tmp_path / TSV).write_text("\n".join(lines) + "\n")
    assert main(["corpus", "wer", "--corpus", str(tmp_path), "--concatenated", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["backend"] == "openai-whisper" and result["utterances"] == 2
    assert result["wer"] <= tolerances.MAX_PAIRWISE_WER_PER_UTTERANCE and result["concatenated_wer"] < 0.5
    assert list(result["transcripts"]) == [u.path.stem for u in utterances()[:2]]


# ---- real speech: every agreement backend within the per-utterance limits on a few clips


# The whole corpus, where the limits were calibrated, is a calibration run: tests/test_agreement.py.
def real_speech_with_limits(real_corpus):
    if real_corpus is None:
        pytest.skip(audio_cases.corpus_notice(None))  # says why, and how to get real speech
    if real_corpus.name != tolerances.REAL_SPEECH_CORPUS:
        pytest.skip(f"tolerances.py has WER limits for {tolerances.REAL_SPEECH_CORPUS!r}, not {real_corpus.name!r}: "
                    f"measure yours with `asrperf corpus wer --corpus {real_corpus.directory}` and add them")


@pytest.mark.parametrize("name", agreement_backend_params())
def test_real_speech_clips_within_the_per_utterance_limits(real_corpus, corpus_transcripts, name):
    """The laptop check's share of the above: the corpus's first few clips, each within the per-utterance
    limits (its WER against the transcript, and against the reference backend's words). The corpus-wide
    limits need the whole corpus; these hold clip by clip. The transcripts are the whole-corpus run's first."""
    real_speech_with_limits(real_corpus)
    items = agreement_utterances(real_corpus)[:CLIPS]
    texts = corpus_transcripts(name, CLIPS)  # skips when the backend cannot run here
    reference = corpus_transcripts(tolerances.REFERENCE_BACKEND, CLIPS)
    per_clip = tolerances.benchmark_max_wer("tiny.en", "real-utt")
    pairwise = tolerances.REAL_SPEECH_AGREEMENT.max_pairwise_wer_per_utterance
    assert len(texts) == len(reference) == len(items) == CLIPS
    for utterance, ours, theirs in zip(items, texts, reference):
        assert ours.strip(), f"{name}: nothing transcribed in {utterance.id}"
        assert wer(utterance.text, ours) <= per_clip, (name, utterance.id, utterance.text, ours)
        assert wer(theirs, ours) <= pairwise, (name, utterance.id, theirs, ours)
