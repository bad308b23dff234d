"""tests/ on two pinned pytest-xdist workers (tests/conftest.py): who gets them, and what each worker holds."""

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from . import conftest

pytestmark = pytest.mark.cpu
HERE = Path(__file__).parent


def options_after(args, **given):
    option = SimpleNamespace(**{"numprocesses": None, "dist": "no", "usepdb": False, "collectonly": False, **given})
    conftest.pytest_cmdline_main(SimpleNamespace(option=option, args=[str(a) for a in args]))
    return option.numprocesses, option.dist


def test_a_run_of_tests_alone_gets_two_workers_a_module_to_a_worker(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(os, "sched_setaffinity", lambda pid, cpus: None, raising=False)
    assert options_after([HERE]) == (conftest.WORKERS, "loadfile")
    assert options_after([f"{HERE / 'test_workers.py'}::test_x"]) == (conftest.WORKERS, "loadfile")
    # Benchmarks beside tests need a quiet machine; -n, --pdb and one CPU are the user's word or a limit.
    assert options_after([HERE, HERE.parent / "benchmarks"]) == (None, "no")
    assert options_after([HERE], numprocesses=0) == (0, "no")
    assert options_after([HERE], numprocesses=3) == (3, "loadfile")
    assert options_after([HERE], numprocesses=3, dist="load") == (3, "load")
    assert options_after([HERE], usepdb=True) == (None, "no")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert options_after([HERE]) == (None, "no")


def test_a_worker_pins_its_share_of_the_cpus_and_hides_itself_from_child_pytests(monkeypatch):
    pinned = {}
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4}, raising=False)
    monkeypatch.setattr(os, "sched_setaffinity", lambda pid, cpus: pinned.update(cpus=list(cpus)), raising=False)
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    conftest.pytest_configure(SimpleNamespace(workerinput={"workerid": "gw1", "workercount": 2}))
    assert pinned["cpus"] == [1, 3]
    assert "PYTEST_XDIST_WORKER" not in os.environ and "PYTEST_XDIST_WORKER_COUNT" not in os.environ
