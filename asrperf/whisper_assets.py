"""openai-whisper's data files (vocabularies, mel filterbank), found without importing openai-whisper.

``import whisper`` (or any ``whisper.*`` submodule) runs ``whisper/__init__``, which imports
torch: 1 to 4 s of a cold start for a backend that never runs torch. The files themselves
sit in the installed package's ``assets`` folder, which ``find_spec`` locates without
executing the package.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .errors import BackendUnavailableError


def whisper_asset(name: str) -> Path:
    """The path of ``name`` in openai-whisper's ``assets`` folder."""
    spec = importlib.util.find_spec("whisper")
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailableError("asrperf's own ports read openai-whisper's vocabulary and mel filters: "
                                      "pip install openai-whisper")
    path = Path(list(spec.submodule_search_locations)[0]) / "assets" / name
    if not path.is_file():
        raise BackendUnavailableError(f"openai-whisper's data file {path} is missing: the installation is "
                                      "incomplete; reinstall it with `pip install --force-reinstall openai-whisper`")
    return path
