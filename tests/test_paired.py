"""Paired ratios and their intervals: an A/A pair contains 1, a real difference does not, drift cancels."""

import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asrperf.paired import (
    Ratio, abba_order, block_order, measure_pairs, measure_rounds, one_sided_bounds, paired_ratio, round_orders, unpaired_ratio,
    within_run_interval,
)

pytestmark = pytest.mark.cpu


class StandIn:
    """A call whose time is known: ``base`` seconds x its own factor x the machine's drift at that moment."""

    def __init__(self, clock, base, drift, noise=0.0, seed=0):
        self.clock, self.base, self.drift, self.noise = clock, base, drift, noise
        self.rng = random.Random(seed)

    def __call__(self):
        self.clock.now += self.base * self.drift(self.clock.now) * math.exp(self.rng.gauss(0, self.noise))
        return "done"


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


def test_abba_alternates_which_side_goes_first():
    assert abba_order(4) == [("a", "b"), ("b", "a"), ("a", "b"), ("b", "a")]


def test_a_against_itself_contains_one_even_under_drift():
    """A/A: two identical stand-ins on a machine slowing by 30 % over the run."""
    clock = Clock()
    drift = lambda t: 1.0 + 0.3 * min(t / 100.0, 1.0)  # noqa: E731
    same = [StandIn(clock, 2.0, drift, noise=0.03, seed=seed) for seed in (1, 2)]
    times = measure_pairs(same[0], same[1], pairs=8, clock=clock)
    assert len(times.a) == len(times.b) == 8
    assert times.ratio.contains(1.0), times.ratio
    assert times.ratio.high / times.ratio.low < 1.1  # the drift fell on both sides: a narrow interval


def test_a_known_difference_is_found_and_bracketed():
    clock = Clock()
    drift = lambda t: 1.0 + 0.3 * math.sin(t / 7.0)  # noqa: E731  (the machine speeds up and slows down)
    slower, faster = StandIn(clock, 1.6, drift, 0.02, 3), StandIn(clock, 1.0, drift, 0.02, 4)
    ratio = measure_pairs(slower, faster, pairs=8, clock=clock).ratio
    assert not ratio.contains(1.0) and ratio.contains(1.6), ratio
    assert str(ratio).startswith("1.6") and str(ratio).count("[") == 1


def test_blocks_without_pairing_would_have_misread_the_drift():
    """The same stand-ins timed A-block then B-block: the drift shows up as a difference."""
    clock = Clock()
    drift = lambda t: 1.0 + 0.3 * min(t / 20.0, 1.0)  # noqa: E731
    a, b = StandIn(clock, 2.0, drift, seed=5), StandIn(clock, 2.0, drift, seed=6)
    block_a, block_b = [], []
    for calls, out in ((a, block_a), (b, block_b)):
        for _ in range(5):
            start = clock()
            calls()
            out.append(clock() - start)
    assert not unpaired_ratio(block_b, block_a).contains(1.0)  # the bias pairing removes
    assert unpaired_ratio(block_b, block_a).kind == "unpaired"


def test_measure_pairs_warms_each_side_and_shows_every_result():
    seen, calls = [], {"a": 0, "b": 0}

    def side(name):
        def call():
            calls[name] += 1
            return name
        return call

    measure_pairs(side("a"), side("b"), pairs=3, warmup=2, on_result=lambda s, r: seen.append((s, r)))
    assert calls == {"a": 5, "b": 5}
    assert seen == [("a", "a"), ("b", "b"), ("b", "b"), ("a", "a"), ("a", "a"), ("b", "b")]


@given(st.integers(2, 9), st.integers(1, 8))
def test_in_a_block_of_rounds_every_two_keys_alternate_like_abba(keys, rounds):
    orders = round_orders(list(range(keys)), rounds)
    assert all(sorted(order) == list(range(keys)) for order in orders)
    for a in range(keys):
        for b in range(a + 1, keys):
            firsts = ["a" if order.index(a) < order.index(b) else "b" for order in orders]
            assert firsts == [first for first, _ in abba_order(rounds)]


def test_pairs_read_from_one_block_find_each_ratio_under_drift():
    """Four stand-ins in one block (as the factor rows share theirs): every pair is bracketed."""
    clock = Clock()
    drift = lambda t: 1.0 + 0.3 * math.sin(t / 11.0)  # noqa: E731
    base = {"torch": 1.6, "jax": 1.0, "openai-whisper": 2.4, "whisper-jax": 5.0}
    calls = {name: StandIn(clock, seconds, drift, 0.02, seed) for seed, (name, seconds) in enumerate(base.items())}
    block = measure_rounds(calls, 6, clock=clock)
    assert not block.errors and all(len(times) == 6 for times in block.times.values())
    for a, b in (("torch", "jax"), ("openai-whisper", "whisper-jax"), ("jax", "whisper-jax"), ("torch", "openai-whisper")):
        ratio = block.pair(a, b).ratio
        # Drift between two keys' calls in a round widens their interval; it still brackets the truth.
        assert ratio.contains(base[a] / base[b]) and ratio.high / ratio.low < 1.4, (a, b, ratio)


def test_a_block_keeps_each_pairs_two_sides_close():
    """The quick preset's eight factors over its eight pipelines: no pair more than one call apart, and
    both framework pairs (the first two factors) side by side."""
    pairs = [("torch", "jax"), ("openai-whisper b8", "whisper-jax"), ("torch", "openai-whisper b8"),
             ("jax", "whisper-jax"), ("jax", "jax seq"), ("jax", "openai-whisper seq"),
             ("jax seq", "faster-whisper"), ("jax seq", "whisper.cpp")]
    keys = list(dict.fromkeys(key for pair in pairs for key in pair))
    order = block_order(keys, pairs)
    assert sorted(order) == sorted(keys)
    gaps = [abs(order.index(a) - order.index(b)) for a, b in pairs]
    assert max(gaps) == 2 and gaps[:2] == [1, 1], (order, gaps)
    assert block_order(keys, []) == keys  # nothing to keep close: the order given
    many = [str(i) for i in range(10)]
    assert block_order(many, [("0", "9")]) == many  # too many to search: the order given


def test_a_call_that_raises_leaves_the_block_or_stops_it():
    def broken():
        raise RuntimeError("crashed")

    calls = {"fine": lambda: "ok", "broken": broken, "also fine": lambda: "ok"}
    block = measure_rounds(calls, 3, keep_going=True)
    assert set(block.times) == {"fine", "also fine"} and all(len(t) == 3 for t in block.times.values())
    assert isinstance(block.errors["broken"], RuntimeError)
    with pytest.raises(RuntimeError, match="crashed"):
        measure_rounds(calls, 3)


@given(st.lists(st.floats(0.1, 10.0), min_size=2, max_size=12), st.floats(0.2, 5.0))
def test_a_constant_factor_is_the_ratio_exactly(times, factor):
    ratio = paired_ratio([t * factor for t in times], times)
    assert ratio.value == pytest.approx(factor) and ratio.low == pytest.approx(factor)
    assert ratio.high == pytest.approx(factor) and ratio.n == len(times)


def test_intervals_invert_and_bound_one_sidedly():
    a, b = [1.10, 1.05, 1.12, 1.08], [1.0, 1.0, 1.02, 0.99]
    ratio = paired_ratio(a, b)
    assert ratio.low < ratio.value < ratio.high
    inverse = paired_ratio(b, a)
    assert inverse.value == pytest.approx(1 / ratio.value) and inverse.low == pytest.approx(1 / ratio.high)
    lower, upper = one_sided_bounds(a, b)
    assert ratio.low < lower < ratio.value < upper < ratio.high  # one-sided bounds are tighter
    assert Ratio.from_dict(ratio.as_dict()).value == pytest.approx(ratio.value, abs=1e-4)


def test_one_pair_has_no_interval_and_says_so():
    ratio = paired_ratio([2.0], [1.0])
    assert ratio.value == 2.0 and "no interval" in str(ratio)


def test_within_run_interval_brackets_the_geometric_mean():
    centre, low, high = within_run_interval([1.0, 1.1, 0.9, 1.05])
    assert low < centre < high and centre == pytest.approx(math.exp(sum(map(math.log, [1.0, 1.1, 0.9, 1.05])) / 4))


@pytest.mark.parametrize("bad", [[], [0.0, 1.0], [float("nan")], [-1.0]])
def test_times_must_be_positive_seconds(bad):
    with pytest.raises(ValueError, match="positive"):
        paired_ratio(bad, [1.0] * len(bad) or [1.0])
    with pytest.raises(ValueError, match="one B time per A time"):
        paired_ratio([1.0, 2.0], [1.0])


def test_rounds_timed_in_a_block_are_the_rows_own_in_pytest_benchmark(tmp_path):
    """The factor rows hand pytest-benchmark the block's rounds (benchmarks/checks.py record_rounds): with the
    installed pytest-benchmark they come out as the row's statistics, in its JSON and its compare."""
    root = Path(__file__).resolve().parents[1]
    (tmp_path / "test_row.py").write_text(
        "from benchmarks.checks import record_rounds\n\n"
        "def test_row(benchmark):\n"
        "    record_rounds(benchmark, [1.0, 2.0, 4.0])\n"
        "    benchmark.extra_info['kept'] = True\n")
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                          str(tmp_path / "test_row.py"), f"--benchmark-json={tmp_path / 'run.json'}"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(root)})
    assert out.returncode == 0, out.stdout + out.stderr
    assert "not used at all" not in out.stdout + out.stderr
    row, = json.loads((tmp_path / "run.json").read_text())["benchmarks"]
    assert row["stats"]["data"] == [1.0, 2.0, 4.0] and row["stats"]["median"] == 2.0 and row["stats"]["rounds"] == 3
    assert row["extra_info"] == {"kept": True}
