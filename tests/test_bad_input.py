"""Odd and bad input through every backend: a correct answer or a clear asrperf error."""

import subprocess
import sys

import numpy as np
import pytest

from asrperf import tolerances
from asrperf.audio import write_wav
from asrperf.backends import BackendInfo, _REGISTRY, load_pipeline, register
from asrperf.corpus import utterances
from asrperf.errors import (AsrperfError, AudioError, BackendUnavailableError, DeviceUnavailableError,
                            ModelNotFoundError)
from asrperf.hardware import gpu_status
from asrperf.metrics import wer
from asrperf.segments import join_text

pytestmark = pytest.mark.cpu
# Each backend's options: the session's shared pipelines. torch eager: input handling is the port's own
# code either way, and the laptop check leaves Inductor's compile to the calibration runs.
BACKENDS = {"openai-whisper": {}, "jax": {"batch_size": 1}, "faster-whisper": {}, "transformers": {"batch_size": 4},
            "whisper-cpp": {}, "torch": {"batch_size": 8, "compile": "none"}}


@pytest.fixture(params=list(BACKENDS))
def pipe(request, pipeline):
    return pipeline(request.param, "tiny.en", **BACKENDS[request.param])


def test_empty_audio(pipe):
    assert pipe.transcribe(np.zeros(0, np.float32)) == []


def test_silence_gives_no_words_or_a_flag(pipe):
    run = pipe.run(np.zeros(16000 * 10, np.float32))
    words = len(join_text(run.segments).split())
    assert words <= 3 or run.max_length_hits > 0, join_text(run.segments)


def test_clipped_audio_still_transcribes(pipe):
    utterance = utterances()[4]
    clipped = np.clip(utterance.samples() * 3.0, -1.0, 1.0)
    assert wer(utterance.text, join_text(pipe.transcribe(clipped))) <= tolerances.MAX_WER_CLIPPED_UTTERANCE


def test_int16_stereo_and_float64_arrays(pipe):
    utterance = utterances()[8]
    mono = utterance.samples()
    stereo16 = (np.stack([mono, mono], axis=1) * 32767).astype(np.int16)
    expected = join_text(pipe.transcribe(mono))
    assert join_text(pipe.transcribe(stereo16)) and wer(expected, join_text(pipe.transcribe(stereo16))) <= \
        tolerances.MAX_WER_INT16_STEREO_VS_MONO
    assert join_text(pipe.transcribe(mono.astype(np.float64))) == expected


@pytest.mark.parametrize("make_bad,match", [
    (lambda tmp: np.array([0.1, np.nan] * 8000, np.float32), "NaN"),
    (lambda tmp: np.full((4, 4, 4), 0.1, np.float32), "not a signal"),
    (lambda tmp: tmp / "missing.wav", "not found"),
    (lambda tmp: tmp, "directory"),
])
def test_bad_audio_is_an_audio_error(pipe, tmp_path, make_bad, match):
    with pytest.raises(AudioError, match=match):
        pipe.transcribe(make_bad(tmp_path))


def test_text_file_named_wav_and_truncated_wav(pipe, tmp_path):
    (tmp_path / "notes.wav").write_text("meeting notes, not audio")
    with pytest.raises(AudioError, match="could not be opened as audio"):
        pipe.transcribe(tmp_path / "notes.wav")
    write_wav(tmp_path / "whole.wav", utterances()[0].samples())
    (tmp_path / "cut.wav").write_bytes((tmp_path / "whole.wav").read_bytes()[:30000])
    with pytest.raises(AudioError, match="truncated"):
        pipe.transcribe(tmp_path / "cut.wav")


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_gpu_without_gpu_is_a_clear_error(backend):
    if gpu_status()[0]:
        pytest.skip("a GPU is visible here: this checks the CPU-only machine's error")
    with pytest.raises(DeviceUnavailableError, match="gpu"):
        load_pipeline(backend, "tiny.en", device="gpu")


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_unknown_model_is_named(backend):
    with pytest.raises(ModelNotFoundError, match="no-such-model"):
        load_pipeline(backend, "no-such-model")


def test_backend_without_its_framework():
    register(BackendInfo(name="needs-missing", module="asrperf.backends.openai_whisper",
                         requires=("a_framework_that_is_not_installed",), install="pip install the-framework",
                         summary="test double"))
    try:
        with pytest.raises(BackendUnavailableError, match="pip install the-framework"):
            load_pipeline("needs-missing")
    finally:
        _REGISTRY.pop("needs-missing")


def test_every_error_is_an_asrperf_error():
    for error in (AudioError, BackendUnavailableError, DeviceUnavailableError, ModelNotFoundError):
        assert issubclass(error, AsrperfError)


CONVERT = "from asrperf.weights.sources import checkpoint_file, resolve_model; print(checkpoint_file(resolve_model('tiny.en')))"


@pytest.mark.processes  # three children convert the weights at once
def test_concurrent_cache_writers_do_not_corrupt(tmp_path):
    pytest.importorskip("torch", reason="pip install 'asrperf[torch]'")
    env = {"ASRPERF_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    workers = [subprocess.Popen([sys.executable, "-c", CONVERT], env=env, stdout=subprocess.PIPE, text=True)
               for _ in range(3)]
    paths = {w.communicate(timeout=300)[0].strip() for w in workers}
    assert all(w.returncode == 0 for w in workers) and len(paths) == 1
    from asrperf.weights.sources import sha256_file

    path = paths.pop()
    assert sha256_file(path) == open(path + ".sha256").read().strip()
    assert not list(tmp_path.rglob("*.tmp"))


LONG_FILE = """
import sys, numpy as np
from asrperf.audio import load_audio
def hwm():
    return int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]) * 1024
before = hwm()
samples = load_audio(sys.argv[1])
print(len(samples), hwm() - before)
"""


@pytest.mark.parametrize("minutes", [
    pytest.param(5, marks=pytest.mark.cpu),
    pytest.param(120, marks=pytest.mark.slow),
])
def test_long_file_streams_without_holding_two_copies(tmp_path, minutes):
    import wave

    path = tmp_path / "long.wav"
    second = (np.sin(np.arange(16000) / 16000 * 2 * np.pi * 220) * 3000).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        for _ in range(minutes * 60):
            out.writeframes(second)
    result = subprocess.run([sys.executable, "-c", LONG_FILE, str(path)], capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-2000:]
    length, growth = map(int, result.stdout.split())
    assert length == minutes * 60 * 16000
    # The float32 result is 4 bytes a sample; frame-by-frame decoding plus one final
    # concatenation stays near two copies of it, not the file plus several full copies.
    assert growth <= 2.5 * length * 4 + 64 * 2**20, growth
