"""Ratios of timings that survive noise: paired, interleaved rounds and a t interval on log ratios.

On shared 2-core machines a configuration measured minutes after another can read 20-30 %
slower for reasons that have nothing to do with it (another tenant, a frequency step,
memory fragmentation). Two habits cancel that drift:

* **pairs in ABBA order.** Round i times A and B back to back, and alternate which goes first
  (A B, B A, A B, ...), so a slow trend falls on both sides equally (asv reverses the order on
  alternate rounds for the same reason).
* **an interval on the log ratio.** For pair i, d_i = ln(a_i / b_i); the ratio is exp(mean d)
  and its interval exp(mean +- t * s / sqrt(n)). Times are positive and skewed, ratios
  multiply: logs make both symmetric. With 3-8 pairs a bootstrap or an exact rank test cannot
  reach 95 % at all (the signed-rank test's smallest p is 2^-n), the t interval can.

Rows that were not measured as pairs get an interval on their own log times ("within-run"),
and a ratio of two such rows a Welch interval, labelled "unpaired" wherever it is shown.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence, TypeVar

K = TypeVar("K")

#: The confidence every printed interval is at.
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Ratio:
    """A ratio of times (A / B) with its interval; ``kind`` says how it was measured."""

    value: float
    low: float
    high: float
    n: int  # pairs (paired) or the smaller side's rounds (unpaired)
    kind: str  # "paired" or "unpaired"
    confidence: float = CONFIDENCE

    def __str__(self) -> str:
        if not math.isfinite(self.low):  # a single pair has no spread to estimate
            return f"{self.value:.2f}x [n={self.n}, no interval]"
        return f"{self.value:.2f}x [{self.low:.2f}, {self.high:.2f}]"

    def inverted(self) -> "Ratio":
        """B / A with the same interval, inverted."""
        return Ratio(1 / self.value, 1 / self.high, 1 / self.low, self.n, self.kind, self.confidence)

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def as_dict(self) -> dict:
        return {"ratio": round(self.value, 4), "low": round(self.low, 4), "high": round(self.high, 4),
                "n": self.n, "kind": self.kind, "confidence": self.confidence}

    @classmethod
    def from_dict(cls, data: dict) -> "Ratio":
        return cls(data["ratio"], data["low"], data["high"], data["n"], data["kind"], data.get("confidence", CONFIDENCE))


def _t_quantile(confidence: float, dof: int, sides: int = 2) -> float:
    from scipy.stats import t

    return float(t.ppf(1 - (1 - confidence) / sides, dof))


def _check_times(name: str, times: Sequence[float]) -> list[float]:
    values = [float(x) for x in times]
    if not values or any(not (x > 0 and math.isfinite(x)) for x in values):
        raise ValueError(f"{name} must be positive, finite seconds, got {values!r}")
    return values


def _mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (nan for a single value)."""
    n = len(values)
    mean = sum(values) / n
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else math.nan


def _log_ratios(times_a: Sequence[float], times_b: Sequence[float]) -> list[float]:
    """ln(a_i / b_i) of paired times, checked."""
    a, b = _check_times("times_a", times_a), _check_times("times_b", times_b)
    if len(a) != len(b):
        raise ValueError(f"paired times need one B time per A time, got {len(a)} and {len(b)}")
    return [math.log(x / y) for x, y in zip(a, b)]


def paired_ratio(times_a: Sequence[float], times_b: Sequence[float], confidence: float = CONFIDENCE) -> Ratio:
    """A's time over B's from pairs measured together: > 1 means A is slower."""
    logs = _log_ratios(times_a, times_b)
    n = len(logs)
    mean, sd = _mean_sd(logs)
    if n < 2:
        return Ratio(math.exp(mean), -math.inf, math.inf, n, "paired", confidence)
    half = _t_quantile(confidence, n - 1) * sd / math.sqrt(n)
    return Ratio(math.exp(mean), math.exp(mean - half), math.exp(mean + half), n, "paired", confidence)


def one_sided_bounds(times_a: Sequence[float], times_b: Sequence[float], confidence: float = CONFIDENCE
                     ) -> tuple[float, float]:
    """One-sided (lower, upper) bounds of the paired ratio A / B, each at ``confidence``.

    The gate asks two one-sided questions: is head surely slower than base by more than x
    (lower bound above x), and is it surely within y (upper bound below y)?
    """
    logs = _log_ratios(times_a, times_b)
    n = len(logs)
    if n < 2:
        return 0.0, math.inf
    mean, sd = _mean_sd(logs)
    half = _t_quantile(confidence, n - 1, sides=1) * sd / math.sqrt(n)
    return math.exp(mean - half), math.exp(mean + half)


def log_spread(times: Sequence[float]) -> float:
    """Standard deviation of ln(time): the per-round noise as a fraction (0.03 = about 3 %)."""
    return _mean_sd([math.log(x) for x in _check_times("times", times)])[1]


def within_run_interval(times: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(geometric mean, low, high) of one row's rounds: an interval on its log times, for rows not paired."""
    values = _check_times("times", times)
    logs = [math.log(x) for x in values]
    n = len(logs)
    mean = sum(logs) / n
    if n < 2:
        return math.exp(mean), -math.inf, math.inf
    half = _t_quantile(confidence, n - 1) * log_spread(values) / math.sqrt(n)
    return math.exp(mean), math.exp(mean - half), math.exp(mean + half)


def unpaired_ratio(times_a: Sequence[float], times_b: Sequence[float], confidence: float = CONFIDENCE) -> Ratio:
    """A / B from two rows measured apart (Welch's interval on log times); weaker than ``paired_ratio``."""
    a = [math.log(x) for x in _check_times("times_a", times_a)]
    b = [math.log(x) for x in _check_times("times_b", times_b)]
    mean = sum(a) / len(a) - sum(b) / len(b)
    n = min(len(a), len(b))
    if n < 2:
        return Ratio(math.exp(mean), -math.inf, math.inf, n, "unpaired", confidence)
    var_a = log_spread(times_a) ** 2 / len(a)
    var_b = log_spread(times_b) ** 2 / len(b)
    se = math.sqrt(var_a + var_b)
    if se == 0:
        return Ratio(math.exp(mean), math.exp(mean), math.exp(mean), n, "unpaired", confidence)
    dof = se ** 4 / (var_a ** 2 / (len(a) - 1) + var_b ** 2 / (len(b) - 1))  # Welch-Satterthwaite
    from scipy.stats import t

    half = float(t.ppf(1 - (1 - confidence) / 2, dof)) * se
    return Ratio(math.exp(mean), math.exp(mean - half), math.exp(mean + half), n, "unpaired", confidence)


def abba_order(pairs: int) -> list[tuple[str, str]]:
    """Which side goes first in each pair: A B, B A, A B, B A, ..."""
    return [tuple(order) for order in round_orders(("a", "b"), pairs)]


def round_orders(keys: Sequence[K], rounds: int) -> list[list[K]]:
    """Every key once per round: in the given order on even rounds, reversed on odd ones.

    For any two keys, the one that goes first alternates from round to round, as in ABBA,
    whatever stands between them: pairs taken out of one block of rounds keep ABBA's balance.
    """
    return [list(keys) if i % 2 == 0 else list(reversed(keys)) for i in range(rounds)]


#: Up to this many keys, ``block_order`` tries every order (9! is about 0.4 million); beyond, it keeps theirs.
ORDER_SEARCH_MAX_KEYS = 9


def block_order(keys: Sequence[K], pairs: Sequence[tuple[K, K]]) -> list[K]:
    """An order of ``keys`` for one block of rounds that keeps each pair's two keys close.

    Calls between a pair's two sides add the drift of their time to its ratio's noise, so the
    order minimises the largest gap between the two keys of any pair, then the sum of squared
    gaps, then the gaps in the pairs' own order (the first pair, the headline, closest). Ties keep
    the order the keys came in. Beyond ``ORDER_SEARCH_MAX_KEYS`` keys the given order is kept.
    """
    keys = list(keys)
    if len(keys) > ORDER_SEARCH_MAX_KEYS or not pairs:
        return keys

    def cost(order):
        position = {key: i for i, key in enumerate(order)}
        gaps = [abs(position[a] - position[b]) for a, b in pairs]
        return max(gaps), sum(g * g for g in gaps), gaps

    return list(min(itertools.permutations(keys), key=cost))


@dataclass(frozen=True)
class PairedTimes:
    """Seconds of each side's calls, pair by pair, and the ratio they give (A / B)."""

    a: tuple[float, ...]
    b: tuple[float, ...]

    @property
    def ratio(self) -> Ratio:
        return paired_ratio(self.a, self.b)


@dataclass(frozen=True)
class RoundTimes:
    """Seconds of each key's call, round by round, and the calls that raised (they left the rounds)."""

    times: dict
    errors: dict

    def pair(self, a, b) -> PairedTimes:
        """Two keys' times as pairs: round i of each (both keys must have run every round)."""
        return PairedTimes(self.times[a], self.times[b])


def measure_rounds(calls: Mapping[K, Callable[[], object]], rounds: int,
                   clock: Callable[[], float] = time.perf_counter,
                   on_result: Callable[[K, object], None] | None = None,
                   keep_going: bool = False) -> RoundTimes:
    """Time each call once per round for ``rounds`` rounds, in ``round_orders`` order.

    Any two of the calls can then be read as ABBA pairs (``RoundTimes.pair``): one block of
    rounds over n pipelines costs n calls a round where separate pairs would cost two per pair.
    Each call must return only when its result is ready; ``on_result(key, result)`` sees every
    timed call's result. A call that raises stops the rounds, or with ``keep_going`` leaves them
    (its exception in ``errors``, its times dropped) while the others go on.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    times: dict = {key: [] for key in calls}
    errors: dict = {}
    for order in round_orders(list(calls), rounds):
        for key in order:
            if key in errors:
                continue
            start = clock()
            try:
                result = calls[key]()
            except Exception as exc:
                if not keep_going:
                    raise
                errors[key] = exc
                continue
            times[key].append(clock() - start)
            if on_result is not None:
                on_result(key, result)
    return RoundTimes({key: tuple(values) for key, values in times.items() if key not in errors}, errors)


def measure_pairs(call_a: Callable[[], object], call_b: Callable[[], object], pairs: int, warmup: int = 1,
                  clock: Callable[[], float] = time.perf_counter,
                  on_result: Callable[[str, object], None] | None = None) -> PairedTimes:
    """Time ``call_a`` and ``call_b`` in ``pairs`` ABBA pairs, after ``warmup`` untimed calls of each.

    Each call must return only when its result is ready (asrperf pipelines do: they wait
    for the device). ``on_result(side, result)`` sees every timed call's result, so the
    caller can check each side transcribed correctly.
    """
    if pairs < 1:
        raise ValueError(f"pairs must be at least 1, got {pairs}")
    for _ in range(warmup):  # each side its own warm-up: compiled programs, caches, allocator
        call_a()
        call_b()
    return measure_rounds({"a": call_a, "b": call_b}, pairs, clock, on_result).pair("a", "b")
