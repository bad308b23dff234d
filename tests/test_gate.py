"""The regression gate: its decision rule on known pairs, and whole gates over a stand-in backend.

The stand-in (tests/gate_standins.py) sleeps a known time per call and returns a known
transcript, as ``standin.json`` in each revision's tree says: the base commits one, the
working tree edits it.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from asrperf.bench.gate import GateIncomplete, Row, Timeouts, run_gate
from asrperf.bench.gate_rule import (FAIL, PASS, UNCLEAR, GateRule, Transcript, decide, quality_problems,
                                     timing_verdict)
from asrperf.errors import ConfigurationError

pytestmark = pytest.mark.cpu

STANDINS = Path(__file__).with_name("gate_standins.py")
ROW = Row("standin", None, "sequential", "utt")  # utt: the shipped corpus's first sentence (11 words)
RULE = GateRule()


# ---------------------------------------------------------------- the decision rule

def pairs(ratios, base=1.0):
    """Pairs whose head/base ratios are ``ratios``, at a drifting base time (drift cancels in pairs)."""
    bases = [base * (1 + 0.3 * (i % 3)) for i in range(len(ratios))]
    return bases, [b * r for b, r in zip(bases, ratios)]


def test_identical_pairs_pass_with_an_interval_around_one():
    decision = decide(*pairs([1.01, 0.99, 1.02, 0.98]), RULE)
    assert decision.verdict == PASS and decision.low < 1.0 < decision.high
    assert str(decision).startswith("head/base 1.00x [")


def test_twice_as_slow_fails():
    assert decide(*pairs([2.02, 1.98, 2.01, 1.99]), RULE).verdict == FAIL


def test_surely_five_percent_slower_passes():
    # Surely above 1.03 and surely below 1.10: the band between them is tolerated, not a failure.
    decision = decide(*pairs([1.05, 1.051, 1.049, 1.05]), RULE)
    assert decision.low > RULE.fail_above and decision.verdict == PASS


def test_noisy_pairs_are_unclear():
    assert decide(*pairs([0.9, 1.2, 1.0, 1.1]), RULE).verdict == UNCLEAR


def scripted(*blocks):
    """A ``draw`` that hands out these pairs' ratios, block after block; records what was asked."""
    queue, asked = [r for block in blocks for r in block], []

    def draw(n):
        asked.append(n)
        taken = [queue.pop(0) for _ in range(n)]
        return pairs(taken)
    return draw, asked


def test_unclear_block_is_extended_to_max_pairs():
    draw, asked = scripted([0.9, 1.2, 1.0, 1.1], [1.0, 1.0, 1.0, 1.0])
    verdict, blocks = timing_verdict(draw, RULE)
    assert asked == [4, 4] and len(blocks) == 1 and blocks[0].decision.n == 8 and verdict == blocks[0].decision.verdict


def test_failure_needs_a_fresh_block_to_confirm_it():
    slow = [1.5, 1.52, 1.49, 1.51]
    draw, asked = scripted(slow, slow)
    verdict, blocks = timing_verdict(draw, RULE)
    assert (verdict, asked, len(blocks)) == (FAIL, [4, 4], 2)

    draw, asked = scripted(slow, [1.0, 1.01, 0.99, 1.0])  # not reproduced: a warning, not a failure
    verdict, blocks = timing_verdict(draw, RULE)
    assert verdict == UNCLEAR and [b.decision.verdict for b in blocks] == [FAIL, PASS]


def test_block_records_per_pair_noise():
    draw, _ = scripted([1.0, 1.0, 1.0, 1.0])
    _, (block,) = timing_verdict(draw, RULE)
    assert block.pair_spread == pytest.approx(0.0, abs=1e-12) and block.as_dict()["n"] == 4


def test_rule_refuses_thresholds_that_cannot_decide():
    with pytest.raises(ConfigurationError, match="fail-above"):
        GateRule(fail_above=1.2, pass_below=1.1)
    with pytest.raises(ConfigurationError, match="pairs"):
        GateRule(pairs=1)


def test_smallest_flagged_slowdown():
    from asrperf.bench.gate_calibration import flagged_from

    # No noise: whatever is not under the pass bound fails. Little noise: the upper bound passes a bit
    # less. Much noise: the lower bound must clear the fail bound, so only large slowdowns fail.
    assert flagged_from(0.0, RULE, 4) == pytest.approx(RULE.pass_below)
    assert flagged_from(0.02, RULE, 4) < RULE.pass_below < flagged_from(0.2, RULE, 4)
    assert flagged_from(0.2, RULE, 8) < flagged_from(0.2, RULE, 4)


def test_quality_problems_show_the_numbers():
    base = Transcript(0.05, 100, "")
    assert quality_problems(base, Transcript(0.06, 103, ""), 100, 0.35) == []
    problems = quality_problems(base, Transcript(0.40, 140, ""), 100, 0.35)
    assert any("WER rose 0.050 -> 0.400" in p for p in problems)
    assert any("over the row's limit 0.350" in p for p in problems)
    assert any("tokens 100 -> 140 (+40, +40%" in p for p in problems)
    # one word of a short clip may change; token counts a revision does not report are not compared
    assert quality_problems(Transcript(0.0, None, ""), Transcript(1 / 11, 40, ""), 11, 0.35) == []


# ---------------------------------------------------------------- whole gates over two workers

@pytest.fixture
def repo(tmp_path):
    from asrperf.bench.audio_cases import audio_case

    root = tmp_path / "project"
    root.mkdir()
    spec = {"delay_s": 0.1, "text": audio_case("utt").reference, "tokens": 20}
    (root / "standin.json").write_text(json.dumps(spec))
    for command in (["init", "-q"], ["add", "-A"],
                    ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base"]):
        subprocess.run(["git", *command], cwd=root, check=True)
    return root


def edit(repo, **changes):
    spec = json.loads((repo / "standin.json").read_text())
    (repo / "standin.json").write_text(json.dumps({**spec, **changes}))


def gate(repo, tmp_path, **options):
    out = tmp_path / "gate.json"
    code = run_gate(repo, "HEAD", [ROW], RULE, json_out=out, corpus_dir=None, plugins=[STANDINS], **options)
    return code, json.loads(out.read_text())["rows"][0]


def test_identical_revisions_pass(repo, tmp_path):
    code, row = gate(repo, tmp_path)
    assert code == 0 and row["verdict"] != FAIL, row
    assert math.isclose(row["blocks"][-1]["ratio"], 1.0, rel_tol=0.05)
    assert row["base"]["tokens"] == row["head"]["tokens"] == 20


def test_twice_as_slow_change_fails_after_confirmation(repo, tmp_path, capsys):
    edit(repo, delay_s=0.2)
    code, row = gate(repo, tmp_path)
    assert code == 1 and row["verdict"] == FAIL and len(row["blocks"]) == 2
    assert "FAIL (confirmed)" in capsys.readouterr().out


def test_five_percent_slower_is_not_a_failure(repo, tmp_path):
    # Calls of 0.4 s, not the fixture's 0.1 s: a few ms of wake-up jitter (another test worker busy
    # beside this one) then stays well inside the 5 % the test measures.
    edit(repo, delay_s=0.4)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "slower base"],
                   cwd=repo, check=True)
    edit(repo, delay_s=0.42)
    code, row = gate(repo, tmp_path)
    assert code == 0 and row["verdict"] != FAIL, row
    assert 1.02 < row["blocks"][0]["ratio"] < 1.08


def test_wrong_words_fail_with_the_numbers(repo, tmp_path, capsys):
    edit(repo, text="the quick brown fox jumps over the lazy dog", tokens=12)
    code, row = gate(repo, tmp_path)
    out = capsys.readouterr().out
    assert code == 1 and row["verdict"] == FAIL
    assert "FAIL: WER rose 0.000 -> 0.909 (+0.909, allowed +0.091)" in out and "tokens 20 -> 12 (-8, -40%" in out


def test_row_the_head_can_no_longer_build_fails(repo, tmp_path, capsys):
    edit(repo, unbuildable=True)
    code, row = gate(repo, tmp_path)
    assert code == 1 and row["verdict"] == FAIL
    assert "the head revision cannot build it, the base can" in capsys.readouterr().out


def test_injected_slowdown_makes_the_head_slower(repo, tmp_path):
    code, row = gate(repo, tmp_path, inject_slowdown=1.0)
    assert code == 1 and row["blocks"][0]["ratio"] == pytest.approx(2.0, rel=0.1)


def test_crashing_worker_is_an_asrperf_error(repo, tmp_path):
    edit(repo, crash=True)
    with pytest.raises(GateIncomplete, match=r"gate head worker .*exit code 3"):
        gate(repo, tmp_path)
    assert json.loads((tmp_path / "gate.json").read_text())["verdict"] == "error"


def test_hanging_worker_is_killed_at_its_deadline(repo, tmp_path):
    edit(repo, hang=True)
    with pytest.raises(GateIncomplete, match="gate head worker .*did not answer within its time limit"):
        gate(repo, tmp_path, timeouts=Timeouts(call_s=2.0))


def test_cli_entry_point_reports_bad_base(repo):
    out = subprocess.run([sys.executable, "-m", "asrperf.bench.gate", "--base", "no-such-ref", "--audio", "utt"],
                         cwd=repo, capture_output=True, text=True)
    assert out.returncode == 2 and "asrperf gate:" in out.stderr and "Traceback" not in out.stderr


def test_cli_entry_point_refuses_unknown_backend(repo):
    out = subprocess.run([sys.executable, "-m", "asrperf.bench.gate", "--base", "HEAD", "--backend", "nope"],
                         cwd=repo, capture_output=True, text=True)
    assert out.returncode == 2 and "no row for backend(s) nope" in out.stderr
