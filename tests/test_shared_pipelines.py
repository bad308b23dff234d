"""Pipelines are shared per whole configuration: the article's singleton ignored new arguments."""

import pytest

from asrperf import backends
from asrperf.config import DecodingSettings

pytestmark = pytest.mark.cpu


@pytest.fixture
def builds(monkeypatch):
    """Record builds instead of loading models, with an empty share table."""
    built = []
    monkeypatch.setattr(backends, "build_pipeline", lambda config: built.append(config) or object())
    monkeypatch.setattr(backends, "_SHARED", {})
    monkeypatch.setattr(backends, "build_counts", type(backends.build_counts)())
    return built


def test_equal_configurations_share_one_build(builds):
    first = backends.shared_pipeline(backends.make_config("jax", "tiny.en", batch_size=8))
    again = backends.shared_pipeline(backends.make_config("whisper_jax", "tiny.en", batch_size=8))  # an alias
    assert first is again and len(builds) == 1


@pytest.mark.parametrize("change", [
    dict(batch_size=4), dict(model="base"), dict(dtype="bfloat16"), dict(threads=1),
    dict(decoding=DecodingSettings(max_new_tokens=100)),
])
def test_any_changed_argument_gets_its_own_pipeline(builds, change):
    options = dict(backend="jax", model="tiny.en", batch_size=8)
    first = backends.shared_pipeline(backends.make_config(**options))
    other = backends.shared_pipeline(backends.make_config(**{**options, **change}))
    assert first is not other and len(builds) == 2 and builds[0] != builds[1]
