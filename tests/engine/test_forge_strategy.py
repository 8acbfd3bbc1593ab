"""FORGE as a pure state machine: drafts, parallel critiques, acceptance, the iteration cap, diffs."""

import pytest

from apps.engine.errors import StrategyConfigError
from apps.engine.strategies import Fail, Finish, RunStep, StepFinished, build_strategy
from apps.engine.strategies.forge import draft_diff, forge_snapshot, parse_critique
from apps.engine.values import StepOutcome, StepResult

MEMBERS = ["writer", "style", "facts"]


def ok(text, **data):
    return StepResult(StepOutcome.SUCCESS, content=text, data=data)


def steps(t):
    return [a for a in t.actions if isinstance(a, RunStep)]


def finish(t):
    return next((a for a in t.actions if isinstance(a, Finish)), None)


def critique(strategy, t, replies):
    keys = {s.agent: s.key for s in steps(t)}
    for agent, reply in replies.items():
        t = strategy.on_fact(t.state, StepFinished(keys[agent], agent, ok(reply) if isinstance(reply, str) else reply))
    return t


def test_it_stops_as_soon_as_every_critic_accepts():
    forge = build_strategy("forge", {}, MEMBERS)
    t = forge.start("Write a haiku")
    assert [(s.key, s.agent, s.input) for s in steps(t)] == [("draft-1#0", "writer", "Write a haiku")]
    t = forge.on_fact(t.state, StepFinished("draft-1#0", "writer", ok("old pond\nfrog")))
    assert [s.key for s in steps(t)] == ["critique-1-0", "critique-1-1"]  # critics in parallel
    assert "old pond" in steps(t)[0].input
    t = critique(forge, t, {"style": '{"score": 0.5, "critique": "too short"}', "facts": "score: 9/10"})
    revise = steps(t)[0]
    assert revise.key == "draft-2#0"
    assert "- style, 0.50 (needs 0.80): too short" in revise.input and "- facts, 0.90 (needs 0.80)" in revise.input
    t = forge.on_fact(t.state, StepFinished("draft-2#0", "writer", ok("old pond\na frog jumps in\nsplash")))
    t = critique(forge, t, {"style": '{"score": 0.85, "critique": "good"}', "facts": "Score: 1"})
    assert finish(t).result == "old pond\na frog jumps in\nsplash"
    assert t.state["outcome"] == {"accepted": True, "reason": "every critic accepted", "chosen": 2}
    assert [d["iteration"] for d in t.state["drafts"]] == [1, 2]  # every draft kept


def test_at_the_cap_it_finishes_with_the_best_draft_or_the_last():
    for on_cap, chosen in (("best", "v2"), ("last", "v3")):
        forge = build_strategy("forge", {"max_iterations": 3, "on_cap": on_cap}, MEMBERS)
        t = forge.start("t")
        for version, scores in (("v1", (0.1, 0.2)), ("v2", (0.7, 0.7)), ("v3", (0.5, 0.8))):
            t = forge.on_fact(t.state, StepFinished(steps(t)[0].key, "writer", ok(version)))
            t = critique(forge, t, {"style": f"score {scores[0]}", "facts": f"score {scores[1]}"})
        assert finish(t).result == chosen
        assert t.state["outcome"]["accepted"] is False and "cap of 3" in t.state["outcome"]["reason"]


def test_judges_critique_in_the_engine_and_the_judge_skill_score_is_read():
    config = {
        "critics": [
            {"judge": {"kind": "rule", "mode": "contains", "expected": "tests"}, "name": "has-tests", "threshold": 1},
            {"agent": "facts", "threshold": 1, "input": "{{ draft }}"},
        ]
    }
    forge = build_strategy("forge", config, MEMBERS)
    t = forge.start("code it")
    t = forge.on_fact(t.state, StepFinished("draft-1#0", "writer", ok("def f(): pass")))
    assert [s.key for s in steps(t)] == ["critique-1-1"] and steps(t)[0].input == "def f(): pass"
    t = forge.on_fact(t.state, StepFinished("critique-1-1", "facts", ok("PASS: exact match", passed=True, score=1.0)))
    assert steps(t)[0].key == "draft-2#0"  # the rule judge rejected: no tests
    assert t.state["drafts"][0]["critiques"]["has-tests"]["accepted"] is False
    t = forge.on_fact(t.state, StepFinished("draft-2#0", "writer", ok("def f(): pass\n# tests: assert f() is None")))
    t = forge.on_fact(t.state, StepFinished("critique-2-1", "facts", ok("PASS", passed=True, score=1.0)))
    assert finish(t) is not None and t.state["outcome"]["accepted"]


def test_failed_critics_abstain_or_reject_and_a_failed_generator_is_asked_again():
    forge = build_strategy("forge", {"critic_failure": "abstain"}, MEMBERS)
    t = forge.start("t")
    t = forge.on_fact(t.state, StepFinished("draft-1#0", "writer", StepResult(StepOutcome.ERROR, error="429")))
    assert steps(t)[0].key == "draft-1#1"
    t = forge.on_fact(t.state, StepFinished("draft-1#1", "writer", ok("v1")))
    t = critique(forge, t, {"style": StepResult(StepOutcome.TIMEOUT, error="slow"), "facts": "score 0.9"})
    assert finish(t).result == "v1"  # the critic that answered accepts; the one that failed abstained
    strict = build_strategy("forge", {"critic_failure": "reject", "max_iterations": 1}, MEMBERS)
    t = strict.start("t")
    t = strict.on_fact(t.state, StepFinished("draft-1#0", "writer", ok("v1")))
    t = critique(strict, t, {"style": StepResult(StepOutcome.TIMEOUT, error="slow"), "facts": "score 0.9"})
    assert t.state["outcome"]["accepted"] is False
    broken = build_strategy("forge", {"generator_retries": 0}, MEMBERS)
    t = broken.on_fact(broken.start("t").state, StepFinished("draft-1#0", "writer", StepResult(StepOutcome.ERROR)))
    assert any(isinstance(a, Fail) for a in t.actions)


def test_critiques_are_read_from_json_text_or_skill_data():
    assert parse_critique(ok('{"score": 8, "critique": "ok"}'), score_max=10) == (0.8, "ok")
    assert parse_critique(ok("Score: 3/4. Needs work.")) == (0.75, "Score: 3/4. Needs work.")
    assert parse_critique(ok("FAIL: not found", score=0.0)) == (0.0, "FAIL: not found")
    assert parse_critique(ok("looks fine to me")) is None


def test_drafts_are_diffed_line_by_line_and_scores_tracked_per_iteration():
    assert draft_diff("a\nb\nc", "a\nB\nc\nd") == [
        {"op": "=", "text": "a"},
        {"op": "-", "text": "b"},
        {"op": "+", "text": "B"},
        {"op": "=", "text": "c"},
        {"op": "+", "text": "d"},
    ]
    forge = build_strategy("forge", {"max_iterations": 2}, MEMBERS)
    t = forge.start("t")
    for version in ("one", "two"):
        t = forge.on_fact(t.state, StepFinished(steps(t)[0].key, "writer", ok(version)))
        t = critique(forge, t, {"style": "score 0.1", "facts": "score 0.2"})
    snap = forge_snapshot(t.state)
    assert snap["drafts"][0]["diff"] is None and snap["drafts"][1]["diff"][0] == {"op": "-", "text": "one"}
    assert snap["scores"] == [{"critic": "style", "scores": [0.1, 0.1]}, {"critic": "facts", "scores": [0.2, 0.2]}]


def test_bad_configs_list_every_problem():
    with pytest.raises(StrategyConfigError) as err:
        build_strategy(
            "forge",
            {
                "generator": "nobody",
                "critics": [{"agent": "ghost", "threshold": 3}, {"judge": {"kind": "llm", "agent": "style"}}],
            },
            MEMBERS,
        )
    assert set(err.value.fields) == {"generator", "critics[0].agent", "critics[0].threshold", "critics[1].judge.kind"}
