"""What `-m` selects in tests/: the laptop check (-m cpu) leaves out slow, calibration and processes cases."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from .conftest import pytest_collection_modifyitems

pytestmark = pytest.mark.cpu
HERE = Path(__file__).parent


class Item(SimpleNamespace):
    def get_closest_marker(self, name):
        return name if name in self.marks else None


def selected(markexpr: str | None) -> list[str]:
    items = [Item(name=name, marks=marks, path=HERE / "test_x.py") for name, marks in (
        ("plain", {"cpu"}), ("calibration case of a cpu module", {"cpu", "calibration"}),
        ("calibration module", {"calibration"}), ("child processes", {"cpu", "processes"}),
        ("120 minutes", {"cpu", "slow"}))]
    left_out = []
    config = SimpleNamespace(getoption=lambda option: markexpr,
                             hook=SimpleNamespace(pytest_deselected=lambda items: left_out.extend(items)))
    pytest_collection_modifyitems(config, items)
    assert not {item.name for item in items} & {item.name for item in left_out}
    return [item.name for item in items]


def test_the_laptop_check_leaves_out_calibration_processes_and_slow_cases():
    # pytest's own -m matching runs after this hook; here only what the hook leaves in.
    everything_but_slow = ["plain", "calibration case of a cpu module", "calibration module", "child processes"]
    assert selected("cpu") == ["plain"]
    assert selected("cpu or calibration") == ["plain", "calibration case of a cpu module", "calibration module"]
    assert selected("cpu or processes") == ["plain", "child processes"]
    assert selected("cpu or calibration or processes") == everything_but_slow  # make test
    assert selected("slow") == ["plain", "120 minutes"]
    assert selected(None) == everything_but_slow
