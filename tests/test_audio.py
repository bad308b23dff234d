import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from asrperf.audio import SAMPLE_RATE, load_audio, write_wav
from asrperf.errors import AudioError

from .conftest import encode_audio

pytestmark = pytest.mark.cpu


def test_wav_round_trip(tmp_path, tone):
    write_wav(tmp_path / "a.wav", tone)
    out = load_audio(tmp_path / "a.wav")
    assert out.dtype == np.float32 and out.ndim == 1 and len(out) == len(tone)
    assert np.max(np.abs(out - tone)) < 1e-3


def test_bytes_equal_path(tmp_path, tone):
    write_wav(tmp_path / "a.wav", tone)
    np.testing.assert_array_equal(load_audio((tmp_path / "a.wav").read_bytes()), load_audio(tmp_path / "a.wav"))


@pytest.mark.parametrize("suffix,codec,rate,channels", [
    ("wav", "pcm_s16le", 8000, 1), ("wav", "pcm_s16le", 44100, 2), ("flac", "flac", 44100, 1),
    ("mp3", "libmp3lame", 44100, 2), ("ogg", "libopus", 48000, 1), ("m4a", "aac", 22050, 1),
])
def test_formats_rates_and_channels(tmp_path, suffix, codec, rate, channels):
    t = np.arange(rate * 2) / rate
    signal = (0.4 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    path = tmp_path / f"x.{suffix}"
    encode_audio(path, signal, rate, codec, channels)
    out = load_audio(path)
    assert out.dtype == np.float32 and out.ndim == 1
    # Lossy codecs add priming samples; the length stays within 0.1 s of 2 s.
    assert abs(len(out) / SAMPLE_RATE - 2.0) < 0.1
    assert 0.2 < np.abs(out).max() < 0.8  # lossy codecs overshoot a little


@pytest.mark.parametrize("array,rate,expected_len", [
    (np.zeros(16000, np.int16), 16000, 16000),
    (np.zeros((8000, 2), np.float64), 8000, 16000),
    (np.zeros((2, 44100), np.float32), 44100, 16000),
    (np.zeros(0, np.float32), 16000, 0),
])
def test_arrays(array, rate, expected_len):
    out = load_audio(array, rate)
    assert out.dtype == np.float32 and out.ndim == 1 and len(out) == expected_len


def test_int16_scaling():
    out = load_audio(np.array([-32768, 0, 16384], np.int16))
    np.testing.assert_allclose(out, [-1.0, 0.0, 0.5])


@given(rate=st.sampled_from([8000, 11025, 16000, 22050, 44100, 48000]),
       channels=st.integers(1, 4), seconds=st.floats(0.05, 2.0),
       dtype=st.sampled_from([np.float32, np.float64, np.int16, np.int32]))
def test_any_array_becomes_16k_mono_float32(rate, channels, seconds, dtype):
    n = int(rate * seconds)
    # Band-limited (below every rate's Nyquist), so resampling cannot overshoot.
    t = np.arange(n)[:, None] / rate
    data = 0.45 * np.sin(2 * np.pi * 300 * t + np.arange(channels)) + 0.3 * np.sin(2 * np.pi * 1700 * t)
    if np.issubdtype(dtype, np.integer):
        data = (data * np.iinfo(dtype).max).astype(dtype)
    else:
        data = data.astype(dtype)
    out = load_audio(data if channels > 1 else data[:, 0], rate)
    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(len(out) - n * SAMPLE_RATE / rate) <= 2 + SAMPLE_RATE / rate
    assert np.isfinite(out).all() and np.abs(out).max() <= 1.1


@pytest.mark.parametrize("bad,message", [
    (np.array([0.0, np.nan, 0.0], np.float32), "NaN or infinite"),
    (np.array([0.0, np.inf], np.float32), "NaN or infinite"),
    (np.zeros((3, 3, 3), np.float32), "not a signal"),
    (np.zeros((100, 100), np.float32), "not a signal"),
    (np.full(100, 1000.0, np.float32), "integer PCM"),
    (np.array(["a"]), "integer or float"),
])
def test_bad_arrays(bad, message):
    with pytest.raises(AudioError, match=message):
        load_audio(bad)


def test_bad_files(tmp_path, tone):
    with pytest.raises(AudioError, match="not found"):
        load_audio(tmp_path / "missing.wav")
    with pytest.raises(AudioError, match="directory"):
        load_audio(tmp_path)
    (tmp_path / "text.wav").write_text("this is not audio")
    with pytest.raises(AudioError, match="could not be opened as audio"):
        load_audio(tmp_path / "text.wav")
    write_wav(tmp_path / "full.wav", np.tile(tone, 3))
    (tmp_path / "cut.wav").write_bytes((tmp_path / "full.wav").read_bytes()[:20000])
    with pytest.raises(AudioError, match="truncated"):
        load_audio(tmp_path / "cut.wav")
    with pytest.raises(AudioError, match="empty"):
        load_audio(b"")
    with pytest.raises(AudioError, match="cannot read audio"):
        load_audio(12345)
    with pytest.raises(AudioError, match="only to numpy"):
        load_audio(tmp_path / "full.wav", 8000)


def test_streamed_wav_header_is_not_truncation(tmp_path, tone):
    # Writers to a pipe cannot seek back, so they leave a placeholder data size.
    write_wav(tmp_path / "a.wav", tone)
    raw = bytearray((tmp_path / "a.wav").read_bytes())
    data_at = raw.index(b"data")
    raw[data_at + 4 : data_at + 8] = (0x7FFFF000).to_bytes(4, "little")
    assert len(load_audio(bytes(raw))) == len(tone)
