"""asrperf: how fast is Whisper on PyTorch versus JAX on *your* hardware, and do they agree?"""

from .backends import Run, available_backends, load_pipeline
from .config import DecodingSettings, PipelineConfig
from .errors import (
    AsrperfError,
    AudioError,
    BackendUnavailableError,
    ConfigurationError,
    DeviceUnavailableError,
    ModelNotFoundError,
    WeightsIntegrityError,
)
from .segments import Segment
from .transcription import Transcription

__version__ = "0.1.0"

__all__ = [
    "AsrperfError", "AudioError", "BackendUnavailableError", "ConfigurationError", "DecodingSettings",
    "DeviceUnavailableError", "ModelNotFoundError", "PipelineConfig", "Run", "Segment", "Transcription",
    "WeightsIntegrityError", "available_backends", "load_pipeline",
]
