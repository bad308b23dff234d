"""A stand-in backend for tests/test_gate.py, run inside the gate's workers (``--worker-plugin``).

Backend ``standin`` answers as ``standin.json`` in the revision's tree (the worker's current
folder) says, so a test commits one behaviour as the base and edits it in the working tree:
``{"delay_s": seconds each call sleeps, "text": its transcript, "tokens": its token count,
"crash": exit mid-call, "hang": never return, "unbuildable": refuse to build}``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from asrperf.backends import BackendInfo, Pipeline, register
from asrperf.errors import BackendUnavailableError
from asrperf.segments import Segment


class StandInPipeline(Pipeline):
    backend_name = "standin"

    def _transcribe(self, samples, stats=None):
        spec = json.loads(Path("standin.json").read_text())
        if spec.get("crash"):
            os._exit(3)
        time.sleep(3600 if spec.get("hang") else spec["delay_s"])
        (stats or getattr(self, "last_run", None)).tokens = spec["tokens"]  # stats: revisions with Pipeline.run
        return [Segment(0.0, len(samples) / 16000, spec["text"])]


def build(config):
    if json.loads(Path("standin.json").read_text()).get("unbuildable"):
        raise BackendUnavailableError("the stand-in was made unbuildable")
    return StandInPipeline(config, "float32")


register(BackendInfo(name="standin", module=__name__, requires=(), install="-",
                     summary="a stand-in with known times, for the gate's tests", longforms=("sequential",)))
