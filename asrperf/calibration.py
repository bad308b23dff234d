"""Calibrated benchmark rows: the WER and token count each configuration measured, read from JSON.

``calibration.json`` beside this module maps "backend|longform|model|dtype|audio" to
``{"wer", "tokens", "measured"}``; ``python -m asrperf.bench.calibrate`` writes it from
benchmark result files. ``tolerances.row_limits`` turns an entry into a row's limits.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")


def key(backend: str, longform: str, model: str, dtype: str, audio: str) -> str:
    return f"{backend}|{longform}|{model}|{dtype}|{audio}"


@lru_cache(maxsize=1)
def _entries() -> dict:
    if not CALIBRATION_FILE.exists():
        return {}
    return json.loads(CALIBRATION_FILE.read_text())["rows"]


def calibrated(backend: str, longform: str, model: str, dtype: str, audio: str) -> dict | None:
    """The calibration of this row configuration, or None where none was measured."""
    return _entries().get(key(backend, longform, model, dtype, audio))
