"""One small hierarchy of errors, so callers can catch asrperf's own problems.

Every message says what is wrong *and* what to do about it; a raw traceback from
deep inside torch, jax or PyAV is a bug in asrperf.
"""

from __future__ import annotations


class AsrperfError(Exception):
    """Base class of every error asrperf raises on purpose."""


class AudioError(AsrperfError, ValueError):
    """The input cannot be turned into 16 kHz mono float32 audio."""


class ModelNotFoundError(AsrperfError, LookupError):
    """No source could provide the requested model's weights."""


class WeightsIntegrityError(AsrperfError, RuntimeError):
    """A weights file exists but its sha256 or content is not what was pinned."""


class BackendUnavailableError(AsrperfError, RuntimeError):
    """A backend's framework is not installed or cannot import here."""


class DeviceUnavailableError(AsrperfError, RuntimeError):
    """The requested device (for example a GPU) is not visible to the framework."""


class ConfigurationError(AsrperfError, ValueError):
    """A pipeline setting (dtype, batch size, backend name...) is not valid."""
