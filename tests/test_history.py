"""asrperf history: rows across saved runs in commit order, with intervals and step changes marked."""

import json

import pytest

from asrperf.cli import main
from asrperf.history import load_history

pytestmark = pytest.mark.cpu


def save_run(folder, number, commit, when, median, rounds, ratio=None):
    benchmarks = [{"name": "test_warm[jax-real-utt]", "stats": {"median": median, "data": rounds},
                   "extra_info": {"backend": "jax", "phase": "warm"}}]
    if ratio:
        benchmarks.append({"name": "test_pair[compiler]", "stats": {"median": 2.0, "data": [2.0, 2.0]},
                           "extra_info": {"phase": "pair", "pair_ratio": {"ratio": ratio, "low": ratio * 0.97,
                                                                          "high": ratio * 1.03, "n": 6,
                                                                          "kind": "paired"}}})
    (folder / f"{number:04d}_{commit}_{when}.json").write_text(json.dumps(
        {"commit_info": {"id": commit * 4, "time": f"2026-12-0{number}T10:00:00"}, "benchmarks": benchmarks}))


@pytest.fixture
def storage(tmp_path):
    folder = tmp_path / ".benchmarks" / "Linux-CPython-3.11-64bit"
    folder.mkdir(parents=True)
    # Saved out of order: the history sorts by commit time.
    save_run(folder, 3, "cccccc", "c", 1.50, [1.49, 1.50, 1.52], ratio=1.4)
    save_run(folder, 1, "aaaaaa", "a", 1.00, [0.99, 1.00, 1.02], ratio=1.4)
    save_run(folder, 2, "bbbbbb", "b", 1.01, [0.98, 1.01, 1.04], ratio=1.41)
    return tmp_path / ".benchmarks"


def test_rows_in_commit_order_with_steps_marked(storage):
    history = {s.name: s for s in load_history(storage)}
    warm = history["test_warm[jax-real-utt]"]
    assert [p.run[:7] for p in warm.points] == ["aaaaaaa", "bbbbbbb", "ccccccc"]
    assert all(p.low <= p.value <= p.high for p in warm.points)
    steps = warm.steps()
    assert len(steps) == 1 and steps[0][1].run.startswith("ccccccc")  # 1.01 -> 1.50, disjoint intervals
    assert history["test_pair[compiler]"].unit == "ratio" and not history["test_pair[compiler]"].steps()


def test_cli_writes_table_and_png(storage, tmp_path):
    assert main(["history", str(storage), "-o", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "history.md").read_text()
    assert "test_warm[jax-real-utt] (s)" in text and "1.49x" in text and "Measured on ?." in text
    assert (tmp_path / "out" / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_runs_on_another_cpu_are_kept_apart(storage):
    folder = storage / "Linux-CPython-3.11-64bit"
    data = json.loads(next(folder.glob("0003_*.json")).read_text())
    data["machine_info"] = {"cpu": {"brand_raw": "Another CPU"}}
    data["commit_info"]["time"] = "2026-12-09T10:00:00"
    (folder / "0004_dddddd_d.json").write_text(json.dumps(data))
    # Three runs on the first CPU win; the other CPU's run is not a point (nor a step) in its series.
    assert len({s.name: s for s in load_history(storage)}["test_warm[jax-real-utt]"].points) == 3
    other = load_history(storage, machine="Another CPU")[0]
    assert len(other.points) == 1 and other.machine == "Another CPU"


def test_one_model_name_with_and_without_avx512_is_two_cpus(storage):
    """"AMD EPYC" names machines with and without AVX-512: a change between them is not a step."""
    folder = storage / "Linux-CPython-3.11-64bit"
    for number, isa in ((4, "AVX-512"), (5, "AVX2")):
        data = json.loads(next(folder.glob("0003_*.json")).read_text())
        data["machine_info"] = {"cpu": {"brand_raw": "AMD EPYC"}, "asrperf": {"vector_isa": isa}}
        data["commit_info"]["time"] = f"2026-12-0{number}T10:00:00"
        (folder / f"000{number}_eeeeee_{number}.json").write_text(json.dumps(data))
    for isa in ("AVX-512", "AVX2"):
        series = load_history(storage, machine=f"AMD EPYC ({isa})")[0]
        assert len(series.points) == 1 and series.machine == f"AMD EPYC ({isa})"


def test_two_runs_of_one_commit_are_two_points(storage):
    folder = storage / "Linux-CPython-3.11-64bit"
    data = json.loads(next(folder.glob("0003_*.json")).read_text())
    for number, saved in ((4, "2026-12-03T12:00:00"), (5, "2026-12-03T13:00:00")):
        data["datetime"] = saved
        (folder / f"000{number}_cccccc_{number}.json").write_text(json.dumps(data))
    runs = [p.run for p in {s.name: s for s in load_history(storage)}["test_warm[jax-real-utt]"].points]
    assert len(runs) == 5 and len(set(runs)) == 5 and runs[-1].endswith("13:00")


def test_no_saved_runs_is_a_clear_error(tmp_path):
    assert main(["history", str(tmp_path / "nothing")]) == 2
