"""Paired ratios and their intervals: an A/A pair contains 1, a real difference does not, drift cancels."""

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asrperf.paired import (
    Ratio, abba_order, measure_pairs, one_sided_bounds, paired_ratio, unpaired_ratio, within_run_interval,
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
