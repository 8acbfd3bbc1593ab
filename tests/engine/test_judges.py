"""Judges: rule, metrics, LLM (through agent steps) and consensus verdicts."""

import pytest

from apps.engine.errors import StrategyConfigError
from apps.engine.judges import (
    ConsensusJudge,
    LLMJudge,
    MetricsJudge,
    RuleJudge,
    Submission,
    Verdict,
    parse_judge,
)
from apps.engine.judging import RuleMode
from apps.engine.strategies.judge_steps import JudgeSession
from apps.engine.values import StepOutcome, StepResult

SUBS = [Submission("leader", "The answer is 42."), Submission("challenger", "It is 41.")]


def ok(text):
    return StepResult(StepOutcome.SUCCESS, content=text)


def test_a_rule_judge_scores_each_submission_against_the_expected_answer():
    verdict = RuleJudge(RuleMode.NUMERIC).judge("6*7", SUBS, expected="42")
    assert verdict.winner == "leader"
    assert verdict.scores == {"leader": 1.0, "challenger": 0.0}
    assert "41 != 42" in verdict.reasoning


def test_equal_scores_are_a_tie_and_a_failed_submission_cannot_win():
    both = [Submission("a", "42"), Submission("b", "forty-two 42")]
    assert RuleJudge(RuleMode.NUMERIC).judge("t", both, expected="42").tie
    failed = [Submission("a", "42", ok=False), Submission("b", "0")]
    verdict = RuleJudge(RuleMode.CONTAINS, expected="42").judge("t", failed)
    assert verdict.tie and verdict.scores["a"] == 0.0


def test_a_metrics_judge_weighs_accuracy_latency_and_cost():
    subs = [Submission("slow", "42", latency_ms=1000, cost=0.02), Submission("fast", "42", latency_ms=100, cost=0.01)]
    judge = MetricsJudge(accuracy=1, latency=1, cost=1, rule=RuleJudge(RuleMode.EXACT))
    verdict = judge.judge("t", subs, expected="42")
    assert verdict.winner == "fast"
    assert verdict.scores["fast"] == 1.0 and verdict.scores["slow"] == pytest.approx((1 + 0.1 + 0.5) / 3)


def test_an_llm_judge_reply_is_parsed_and_malformed_ones_are_refused():
    judge = LLMJudge("referee")
    reply = '```json\n{"winner": "challenger", "scores": {"challenger": 0.9}, "confidence": 0.8}\n```'
    verdict = judge.parse(reply, SUBS)
    assert verdict.winner == "challenger" and verdict.scores == {"challenger": 0.9, "leader": 0.0}
    for bad in ("no json here", '{"winner": "nobody"}', '{"winner": null, "scores": {"leader": 7}}'):
        with pytest.raises(Exception, match=r"winner|JSON|score"):
            judge.parse(bad, SUBS)


def test_a_session_retries_a_malformed_llm_verdict_then_records_a_tie_with_the_reason():
    session = JudgeSession(LLMJudge("referee", retries=1), prefix="t1-")
    state, steps, verdict = session.begin("6*7", SUBS, expected="42")
    assert verdict is None and [s.key for s in steps] == ["t1-judge-0#0"] and steps[0].agent == "referee"
    assert "Reference answer: 42" in steps[0].input
    state, steps, verdict = session.on_result(state, "t1-judge-0#0", ok("I like the first one"))
    assert verdict is None and [s.key for s in steps] == ["t1-judge-0#1"]
    assert "could not be used: The reply is not JSON" in steps[0].input
    state, steps, verdict = session.on_result(state, "t1-judge-0#1", ok("still not json"))
    assert steps == [] and verdict.tie and verdict.confidence == 0.0
    assert "Counted as a tie: The reply is not JSON. (after 2 attempts)" in verdict.reasoning


def test_a_consensus_follows_the_majority_and_breaks_ties_deterministically():
    a = Verdict("leader", {"leader": 1.0, "challenger": 0.0}, "")
    b = Verdict("challenger", {"leader": 0.0, "challenger": 0.6}, "")
    c = Verdict("challenger", {"leader": 0.2, "challenger": 0.7}, "")
    assert ConsensusJudge.combine([a, b, c], SUBS).winner == "challenger"
    split = ConsensusJudge.combine([a, b], SUBS)  # one each: the higher mean score (0.5 vs 0.3) wins
    assert split.winner == "leader" and "tiebreak" in split.reasoning
    even = Verdict("challenger", {"leader": 0.0, "challenger": 1.0}, "")
    assert ConsensusJudge.combine([a, even], SUBS).winner == "leader"  # equal means: submission order


def test_a_consensus_session_mixes_rule_and_llm_judges():
    judge = parse_judge(
        {"kind": "consensus", "judges": [{"kind": "rule", "mode": "numeric"}, {"kind": "llm", "agent": "ref"}]},
        ["ref"],
    )
    session = JudgeSession(judge, prefix="")
    state, steps, verdict = session.begin("6*7", SUBS, expected="42")
    assert verdict is None and len(steps) == 1
    _, _, verdict = session.on_result(state, steps[0].key, ok('{"winner": "leader", "scores": {"leader": 1}}'))
    assert verdict.winner == "leader" and len(verdict.parts) == 2 and verdict.confidence == 1.0


def test_judge_configs_report_every_problem():
    with pytest.raises(StrategyConfigError) as err:
        judges = [{"kind": "llm", "agent": "x"}, {"kind": "rule", "mode": "fuzzy"}]
        parse_judge({"kind": "consensus", "judges": judges}, ["a"])
    assert set(err.value.fields) == {"judge.judges[0].agent", "judge.judges[1].mode"}
