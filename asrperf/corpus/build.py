"""Regenerate the shipped corpus from ``sentences.txt`` with espeak-ng.

Run ``asrperf corpus build`` (needs the ``espeak-ng`` program, Debian package
``espeak-ng``). The voice and speed of each sentence follow a fixed rotation, so the
same sentences, voices and espeak-ng version give the same files.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np

from ..audio import SAMPLE_RATE, duration_s, load_audio, write_wav
from ..errors import AsrperfError
from . import CORPUS_DIR, DATA_DIR, MANIFEST

# Voices tiny.en understands well enough to measure with (checked by ear and WER);
# several accents and a female variant so the corpus is not one speaker.
VOICES = ("en-us", "en-gb", "en-us+f3", "en-us+m3")
SPEEDS = (140, 125, 150)  # words per minute
WORD_GAP = 2  # extra pause between words, in units of 10 ms: clearer word boundaries
PAD_S = 0.3  # silence before and after each sentence, as a recording would have


def espeak_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
    # "eSpeak NG text-to-speech: 1.51  Data at: ..." → "1.51"
    return out.split(":")[1].split()[0] if ":" in out else out.strip()


def build(out_dir: Path = DATA_DIR, progress: bool = True) -> Path:
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise AsrperfError("espeak-ng is not installed: `apt-get install espeak-ng` (Debian/Ubuntu), then retry")
    from tqdm import tqdm

    sentences = [line.strip() for line in (CORPUS_DIR / "sentences.txt").read_text().splitlines() if line.strip()]
    out_dir.mkdir(parents=True, exist_ok=True)
    items = []
    for index, text in enumerate(tqdm(sentences, desc="synthesising", disable=not progress)):
        voice = VOICES[index % len(VOICES)]
        speed = SPEEDS[(index // len(VOICES)) % len(SPEEDS)]
        wav = subprocess.run([binary, "-v", voice, "-s", str(speed), "-g", str(WORD_GAP), "--stdout", text],
                             capture_output=True, check=True).stdout
        speech = load_audio(wav)  # espeak-ng speaks at 22.05 kHz; resampled to 16 kHz here
        pad = np.zeros(int(PAD_S * SAMPLE_RATE), np.float32)
        samples = np.concatenate([pad, speech, pad])
        name = f"utt{index:03d}.wav"
        write_wav(out_dir / name, samples)
        items.append({
            "id": f"utt{index:03d}", "file": name, "text": text, "voice": voice, "speed": speed,
            "duration_s": round(duration_s(samples), 4),
            "sha256": hashlib.sha256((out_dir / name).read_bytes()).hexdigest(),
        })
    manifest = {
        "generator": "asrperf corpus build",
        "espeak_ng_version": espeak_version(binary),
        "settings": {"voices": VOICES, "speeds_wpm": SPEEDS, "word_gap_10ms": WORD_GAP, "pad_s": PAD_S},
        "sample_rate": 16000,
        "format": "WAV, 16-bit PCM, mono",
        "utterances": items,
    }
    target = out_dir / MANIFEST.name
    target.write_text(json.dumps(manifest, indent=1) + "\n")
    return target
