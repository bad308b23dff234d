"""The gate's verdicts, as pure functions of measured pairs and transcripts.

Timing, per row: ``pairs`` ABBA pairs of base and head give a paired ratio head/base with
one-sided 95 % bounds (``asrperf.paired.one_sided_bounds``).

* **pass** when the upper bound is under ``pass_below``: the change is surely within it;
* **fail** when, otherwise, the lower bound is over ``fail_above``: surely slower, and not
  shown to be small;
* **unclear** otherwise: the block is extended to ``max_pairs`` pairs and decided again on all
  of them; still unclear is a warning, not a failure.

Passing is tested first, so a change measured surely between the two thresholds (say 5 %
slower, tightly) passes: the band between them is tolerated drift, not a regression. A failure
must be reproduced by a fresh block of pairs decided the same way before the gate fails; a
failure that does not reproduce is reported as unclear.

Quality, per row: head's WER may not rise over base's by more than the tolerance, nor pass the
row's absolute limit, and its token count may not move by more than a few percent.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

from ..errors import ConfigurationError
from ..paired import CONFIDENCE, log_spread, one_sided_bounds, paired_ratio
from ..tolerances import GATE_MAX_TOKEN_CHANGE, GATE_MAX_WER_RISE, GATE_TOKEN_CHANGE_FLOOR

PASS, FAIL, UNCLEAR = "pass", "FAIL", "unclear"


@dataclass(frozen=True)
class GateRule:
    """The thresholds of the timing verdict (``--fail-above``, ``--pass-below``, ``--pairs``, ``--max-pairs``)."""

    fail_above: float = 1.03  # fail when head/base is surely above this...
    pass_below: float = 1.10  # ...unless it is surely below this
    pairs: int = 4  # ABBA pairs in a block
    max_pairs: int = 8  # an unclear block is extended to this many
    confidence: float = CONFIDENCE  # of each one-sided bound

    def __post_init__(self) -> None:
        if not 1.0 <= self.fail_above < self.pass_below:
            raise ConfigurationError(f"the gate needs 1 <= --fail-above < --pass-below, got {self.fail_above:g} "
                                     f"and {self.pass_below:g}")
        if not 2 <= self.pairs <= self.max_pairs:
            raise ConfigurationError(f"the gate needs 2 <= --pairs <= --max-pairs (an interval needs two pairs), "
                                     f"got {self.pairs} and {self.max_pairs}")


@dataclass(frozen=True)
class Decision:
    """One verdict on a set of pairs: the ratio head/base and its one-sided bounds."""

    verdict: str
    ratio: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        return f"head/base {self.ratio:.2f}x [{self.low:.2f}, {self.high:.2f}] {self.verdict}"


def decide(base_s: Sequence[float], head_s: Sequence[float], rule: GateRule) -> Decision:
    low, high = one_sided_bounds(head_s, base_s, rule.confidence)
    ratio = paired_ratio(head_s, base_s, rule.confidence).value
    verdict = PASS if high < rule.pass_below else FAIL if low > rule.fail_above else UNCLEAR
    return Decision(verdict, ratio, low, high, len(head_s))


@dataclass(frozen=True)
class Block:
    """A block of pairs (extended if its first part was unclear) and what it decided."""

    base_s: tuple[float, ...]
    head_s: tuple[float, ...]
    decision: Decision

    @property
    def pair_spread(self) -> float:
        """Per-pair noise: the standard deviation of ln(head/base) over the block's pairs."""
        return log_spread([h / b for h, b in zip(self.head_s, self.base_s)])

    def as_dict(self) -> dict:
        return {"base_s": [round(x, 5) for x in self.base_s], "head_s": [round(x, 5) for x in self.head_s],
                **{k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self.decision).items()},
                "pair_spread": None if math.isnan(self.pair_spread) else round(self.pair_spread, 4)}


#: ``draw(n)`` measures n more ABBA pairs and returns (base seconds, head seconds).
Draw = Callable[[int], tuple[Sequence[float], Sequence[float]]]


def run_block(draw: Draw, rule: GateRule) -> Block:
    base, head = (list(x) for x in draw(rule.pairs))
    decision = decide(base, head, rule)
    if decision.verdict == UNCLEAR and rule.max_pairs > rule.pairs:
        more_base, more_head = draw(rule.max_pairs - rule.pairs)
        base += more_base
        head += more_head
        decision = decide(base, head, rule)
    return Block(tuple(base), tuple(head), decision)


def timing_verdict(draw: Draw, rule: GateRule) -> tuple[str, list[Block]]:
    """The row's timing verdict and the blocks behind it (a second block only to confirm a failure)."""
    first = run_block(draw, rule)
    if first.decision.verdict != FAIL:
        return first.decision.verdict, [first]
    confirm = run_block(draw, rule)
    return (FAIL if confirm.decision.verdict == FAIL else UNCLEAR), [first, confirm]


@dataclass(frozen=True)
class Transcript:
    """What one side transcribed for a row, scored against the row's reference."""

    wer: float
    tokens: int | None
    text: str


def wer_rise_allowed(reference_words: int) -> float:
    """GATE_MAX_WER_RISE, or one word of the reference where that is more (short clips)."""
    return max(GATE_MAX_WER_RISE, 1.0 / max(reference_words, 1))


def quality_problems(base: Transcript, head: Transcript, reference_words: int, max_wer: float) -> list[str]:
    """Why head's transcript is worse than base's, with the numbers; empty when it is not."""
    problems = []
    allowed = wer_rise_allowed(reference_words)
    if head.wer - base.wer > allowed + 1e-9:
        problems.append(f"WER rose {base.wer:.3f} -> {head.wer:.3f} (+{head.wer - base.wer:.3f}, "
                        f"allowed +{allowed:.3f})")
    if head.wer > max_wer:
        problems.append(f"WER {head.wer:.3f} is over the row's limit {max_wer:.3f} (tolerances.benchmark_max_wer)")
    if base.tokens is not None and head.tokens is not None:
        change = head.tokens - base.tokens
        allowed_tokens = max(GATE_MAX_TOKEN_CHANGE * base.tokens, GATE_TOKEN_CHANGE_FLOOR)
        if abs(change) > allowed_tokens:
            problems.append(f"tokens {base.tokens} -> {head.tokens} ({change:+d}, {change / max(base.tokens, 1):+.0%}; "
                            f"allowed +-{allowed_tokens:.0f})")
    return problems
