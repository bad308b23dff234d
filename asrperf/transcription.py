"""The article's ``Transcription`` interface, with its defects fixed.

The article built a ``__new__`` singleton that ignored new constructor arguments
and rebuilt the pipeline for every file. Here pipelines are shared per full
configuration (``shared_pipeline``): a new configuration gets a new pipeline, the
same configuration never rebuilds one, and ``transcribe_multiple`` runs each file
exactly once through one pipeline.
"""

from __future__ import annotations

import os
from typing import Iterable

from .backends import ALIASES, Pipeline, make_config, shared_pipeline
from .errors import ConfigurationError


class Transcription:
    """``Transcription("a.wav", model_type="whisper_jax", device="cpu", model_name="base").run_pipeline()``.

    ``model_type`` takes the article's values: ``"whisper"`` (openai-whisper on PyTorch)
    and ``"whisper_jax"`` (asrperf's JAX Whisper, backend ``jax``, which follows
    whisper-jax's algorithm); any registered backend name is accepted too.
    """

    def __init__(self, audio_file_path: str | os.PathLike | None = None, model_type: str = "whisper",
                 device: str = "cpu", model_name: str = "base", dtype: str | None = None,
                 batch_size: int | None = None):
        if model_type not in ALIASES and model_type not in ALIASES.values():
            from .backends import backend_names

            if model_type not in backend_names():
                raise ConfigurationError(
                    f"model_type must be 'whisper', 'whisper_jax' or a backend name "
                    f"({', '.join(backend_names())}), not {model_type!r}"
                )
        self.audio_file_path = audio_file_path
        self.config = make_config(model_type, model=model_name, device=device, dtype=dtype, batch_size=batch_size)
        self.pipeline: Pipeline | None = None

    @property
    def backend(self) -> str:
        """The registry name of the implementation that actually runs."""
        return self.config.backend

    def set_pipeline(self) -> Pipeline:
        """Get (building only on first use of this configuration) the shared pipeline."""
        self.pipeline = shared_pipeline(self.config)
        return self.pipeline

    def run_pipeline(self, audio_file_path: str | os.PathLike | None = None) -> list[dict]:
        """Transcribe one file; returns the article's ``[{"timestamp": (s, e), "text": ...}]``."""
        path = audio_file_path if audio_file_path is not None else self.audio_file_path
        if path is None:
            raise ConfigurationError("no audio file: pass audio_file_path to Transcription() or run_pipeline()")
        pipeline = self.pipeline or self.set_pipeline()
        return [segment.to_dict() for segment in pipeline.transcribe(path)]

    def transcribe_multiple(self, paths: Iterable[str | os.PathLike], progress: bool | None = None
                            ) -> list[list[dict]]:
        """Each file transcribed once, in order, by one pipeline, in one job (``Pipeline.transcribe_many``).

        Where the backend can, windows of several files share each batch; each file's
        segments are those it gets alone. ``progress``: a tqdm bar (None: when stderr is a terminal).
        """
        pipeline = self.pipeline or self.set_pipeline()
        return [[segment.to_dict() for segment in segments]
                for segments in pipeline.transcribe_many(paths, progress=progress)]
