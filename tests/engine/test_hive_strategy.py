"""HIVE as a pure state machine: rounds of proposals and votes, threshold, abstentions, plurality."""

import pytest

from apps.engine.errors import StrategyConfigError, StrategyError
from apps.engine.strategies import Finish, PostMessage, Progress, RunStep, StepFinished, build_strategy
from apps.engine.strategies.hive import hive_snapshot
from apps.engine.values import StepOutcome, StepResult

AGENTS = ["ann", "ben", "cat", "dan", "eve"]


def ok(text):
    return StepResult(StepOutcome.SUCCESS, content=text)


def bad(error="boom", outcome=StepOutcome.ERROR):
    return StepResult(outcome, error=error)


def steps(t):
    return [a for a in t.actions if isinstance(a, RunStep)]


def finish(t):
    return next((a for a in t.actions if isinstance(a, Finish)), None)


def feed_all(strategy, t, replies):
    """Feed one reply per outstanding step (agent -> StepResult or text), in the given order."""
    keys = {s.agent: s.key for s in steps(t)}
    for agent, reply in replies.items():
        reply = ok(reply) if isinstance(reply, str) else reply
        t = strategy.on_fact(t.state, StepFinished(keys[agent], agent, reply))
    return t


def test_agents_propose_in_parallel_then_vote_and_a_clear_majority_decides():
    hive = build_strategy("hive", {}, AGENTS)
    t = hive.start("What is 6 * 7?")
    assert [s.key for s in steps(t)] == [f"r1-propose-{a}" for a in AGENTS]
    assert all(s.room == "hive" for s in steps(t))
    t = feed_all(hive, t, {"ann": "42", "ben": "42.", "cat": "41", "dan": '{"answer": "42"}', "eve": "42"})
    ballots = steps(t)
    assert [s.key for s in ballots] == [f"r1-vote-{a}" for a in AGENTS]
    assert "1. 42\n2. 41" in ballots[0].input  # equal answers are one option, in order of first proposal
    t = feed_all(hive, t, {"ann": "1", "ben": '{"vote": 1}', "cat": "2", "dan": "42", "eve": "1"})
    assert finish(t).result == "42"
    assert t.state["outcome"] == {"consensus": True, "answer": "42", "round": 1, "support": 0.8}
    snapshot = [a for a in t.actions if isinstance(a, Progress)][-1].data
    assert snapshot["view"] == "hive" and snapshot["rounds"][0]["options"][0] == {
        "text": "42",
        "by": ["ann", "ben", "dan", "eve"],
        "votes": 4,
        "percent": 80,
        "decided": True,
    }


def test_below_the_threshold_another_round_starts_with_everyones_proposals():
    hive = build_strategy("hive", {"threshold": 0.7}, AGENTS[:3])
    t = hive.start("pick")
    t = feed_all(hive, t, {"ann": "red", "ben": "blue", "cat": "blue"})
    t = feed_all(hive, t, {"ann": "1", "ben": "2", "cat": "2"})  # 2/3 < 0.7
    assert finish(t) is None
    round2 = steps(t)
    assert [s.key for s in round2] == ["r2-propose-ann", "r2-propose-ben", "r2-propose-cat"]
    assert "- red (by ann; 1 votes)" in round2[0].input and "- blue (by ben, cat; 2 votes)" in round2[0].input
    t = feed_all(hive, t, {"ann": "blue", "ben": "blue", "cat": "blue"})
    t = feed_all(hive, t, {"ann": "1", "ben": "1", "cat": "1"})
    assert finish(t).result == "blue" and t.state["outcome"]["round"] == 2


def test_failed_and_timed_out_agents_abstain_visibly_and_the_rest_still_decide():
    hive = build_strategy("hive", {}, AGENTS)
    t = hive.start("q")
    t = feed_all(
        hive,
        t,
        {"ann": "yes", "ben": bad("model down"), "cat": "yes", "dan": bad("slow", StepOutcome.TIMEOUT), "eve": "no"},
    )
    t = feed_all(hive, t, {"ann": "1", "ben": bad(), "cat": "1", "dan": "1", "eve": "1"})
    # 4 real votes of 5 voters (ben abstained twice): 4/4 for "yes"
    assert finish(t).result == "yes"
    notes = [a.content for a in t.actions if isinstance(a, PostMessage) and a.sender == "system"]
    assert any("abstained: ben" in n for n in notes)
    record = t.state["record"][0]
    assert record["abstained"]["ben"].startswith("vote: error") and "ben" not in record["votes"]
    assert t.state["live"] == ["ann", "cat", "dan", "eve"]  # two failures in a row: ben left the hive


def test_abstentions_do_not_count_as_votes_against_but_a_quorum_is_needed():
    hive = build_strategy("hive", {"quorum": 0.5, "max_rounds": 1}, AGENTS[:4])
    t = hive.start("q")
    t = feed_all(hive, t, {"ann": "a", "ben": bad(), "cat": bad(), "dan": bad()})
    t = feed_all(hive, t, {"ann": "1", "ben": bad(), "cat": bad(), "dan": bad()})
    # one vote of four voters is below the quorum: no consensus, the plurality is reported as such
    result = finish(t).result
    assert result.startswith("a\n\n(No consensus (no consensus after 1 rounds)")
    assert t.state["outcome"]["consensus"] is False


def test_after_the_last_round_the_plurality_wins_with_a_deterministic_tiebreak():
    hive = build_strategy("hive", {"max_rounds": 2, "threshold": 0.9}, AGENTS[:4])
    t = hive.start("q")
    for _ in range(2):
        t = feed_all(hive, t, {"ann": "x", "ben": "y", "cat": "y", "dan": "x"})
        t = feed_all(hive, t, {"ann": "1", "ben": "2", "cat": "2", "dan": "1"})
    # 2 votes each; "x" was proposed first (by ann), so it wins the tie
    assert finish(t).result.startswith("x\n\n(No consensus")
    assert t.state["outcome"]["support"] == 0.5


def test_proposal_voting_suits_skill_agents_and_unreadable_ballots_abstain():
    hive = build_strategy("hive", {"voting": "proposals", "threshold": 0.6}, AGENTS[:3])
    t = hive.start("6*7")
    t = feed_all(hive, t, {"ann": "42", "ben": "42", "cat": "41"})
    assert finish(t).result == "42"
    ballot = build_strategy("hive", {"max_rounds": 1}, AGENTS[:2])
    t = ballot.start("q")
    t = feed_all(ballot, t, {"ann": "a", "ben": "b"})
    t = feed_all(ballot, t, {"ann": "I cannot decide", "ben": "7"})
    assert t.state["record"][0]["abstained"] == {
        "ann": "vote: unreadable ballot 'I cannot decide'",
        "ben": "vote: unreadable ballot '7'",
    }


def test_a_hive_snapshot_shows_who_is_thinking_and_who_abstained():
    hive = build_strategy("hive", {}, AGENTS[:2])
    t = hive.start("q")
    t = hive.on_fact(t.state, StepFinished("r1-propose-ann", "ann", bad()))
    rows = {r["agent"]: r["status"] for r in hive_snapshot(t.state, agents=AGENTS[:2])["agents"]}
    assert rows == {"ann": "abstained", "ben": "thinking"}


def test_unexpected_results_and_bad_configs_are_refused():
    hive = build_strategy("hive", {}, AGENTS[:2])
    t = hive.start("q")
    with pytest.raises(StrategyError):
        hive.on_fact(t.state, StepFinished("r2-propose-ann", "ann", ok("x")))
    with pytest.raises(StrategyConfigError) as err:
        build_strategy("hive", {"agents": ["zed"], "threshold": 2, "voting": "shout"}, AGENTS)
    assert set(err.value.fields) == {"agents", "threshold", "voting"}
