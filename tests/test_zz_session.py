"""Runs last (file order): over the whole session, no configuration was built twice."""

import pytest

from asrperf.backends import build_counts

pytestmark = pytest.mark.cpu


def test_each_configuration_built_once_per_session(pipeline):
    pipeline("openai-whisper", "tiny.en")
    assert build_counts, "the session built no pipeline at all"
    repeated = {str(config): count for config, count in build_counts.items() if count != 1}
    assert not repeated, f"pipelines rebuilt within one session: {repeated}"
