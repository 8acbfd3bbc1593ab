"""SAO as a pure state machine: the promotion and demotion table, rewards, time limits, the top, resuming."""

import pytest

from apps.engine.curriculum import generate
from apps.engine.errors import StrategyConfigError
from apps.engine.strategies import Finish, RunStep, StepFinished, build_strategy
from apps.engine.strategies.sao import sao_snapshot
from apps.engine.values import StepOutcome, StepResult

DATASET = [{"task": f"say {i}", "expected": str(i), "checker": "exact"} for i in range(3)]


def ok(text, latency_ms=5):
    return StepResult(StepOutcome.SUCCESS, content=text, latency_ms=latency_ms)


def steps(t):
    return [a for a in t.actions if isinstance(a, RunStep)]


def sao(levels=4, members=("ann",), **extra):
    config = {"levels": [{"source": {"dataset": DATASET}} for _ in range(levels)], **extra}
    return build_strategy("sao", config, list(members))


def answer(strategy, t, agent, *, right=True, result=None):
    """Answer ``agent``'s outstanding attempt (from the state: it may have started earlier)."""
    pending = t.state["pending"][agent]
    if result is None:
        expected = pending["task"]["task"].removeprefix("say ")
        result = ok(expected if right else "wrong")
    return strategy.on_fact(t.state, StepFinished(pending["key"], agent, result))


def climb(strategy, t, agent, outcomes):
    """Answer a series of attempts; return the transition and the level after each."""
    levels = []
    for right in outcomes:
        t = answer(strategy, t, agent, right=right)
        levels.append(t.state["agents"][agent]["level"])
    return t, levels


def test_passing_moves_up_and_pays_each_levels_reward():
    strategy = sao()
    t = strategy.start("climb")
    assert [(s.key, s.agent, s.input, s.timeout_s) for s in steps(t)] == [("ann#1", "ann", "say 0", 60.0)]
    t, levels = climb(strategy, t, "ann", [True, True, True])
    assert levels == [2, 3, 4]
    assert [h["reward"] for h in t.state["history"]] == [0.5, 1.0, 2.0]
    assert t.state["agents"]["ann"]["total_reward"] == 3.5


@pytest.mark.parametrize(("failing_level", "back_to"), [(1, 1), (2, 1), (3, 1), (4, 1), (5, 2), (6, 3)])
def test_a_fail_retries_level_1_and_sends_higher_levels_back_1_2_then_3(failing_level, back_to):
    strategy = sao(levels=6)
    assert [level.setback for level in strategy.levels] == [0, 1, 2, 3, 3, 3]
    t = strategy.start("x", context={"progress": {"ann": {"level": failing_level}}})
    t = answer(strategy, t, "ann", right=False)
    assert t.state["agents"]["ann"]["level"] == back_to
    last = t.state["history"][-1]
    assert (last["level"], last["level_after"], last["passed"], last["reward"]) == (failing_level, back_to, False, 0)
    assert steps(t)[0].key == "ann#2" and steps(t)[0].agent == "ann"  # and tries again from there


def test_setbacks_are_configurable_per_level():
    strategy = sao(levels=6)
    _, levels = climb(strategy, strategy.start("x"), "ann", [True] * 4 + [False, True, False])
    assert levels == [2, 3, 4, 5, 2, 3, 1]  # level 5 fails back 3; level 3 back 2
    gentle = build_strategy(
        "sao", {"levels": [{"source": {"dataset": DATASET}, "setback": 0} for _ in range(4)]}, ["ann"]
    )
    _, levels = climb(gentle, gentle.start("x"), "ann", [True, True, True, False])
    assert levels == [2, 3, 4, 4]  # setback 0 everywhere: retry the same level


def test_a_setback_cannot_go_below_level_1():
    with pytest.raises(StrategyConfigError) as err:
        build_strategy("sao", {"levels": [{"setback": 1}, {"setback": 2}]}, ["ann"])
    assert set(err.value.fields) == {"levels[0].setback", "levels[1].setback"}


def test_a_timeout_or_an_answer_over_the_time_limit_is_a_fail():
    strategy = sao(levels=2, time_limit_s=1)
    t = strategy.start("x")
    assert steps(t)[0].timeout_s == 1
    t = answer(strategy, t, "ann")  # right and quick: level 2
    slow = ok("0", latency_ms=1500)  # the right answer, too late
    t = answer(strategy, t, "ann", result=slow)
    last = t.state["history"][-1]
    assert not last["passed"] and "over time" in last["reason"] and last["level_after"] == 1
    t = answer(strategy, t, "ann", result=StepResult(StepOutcome.TIMEOUT, error="took too long"))
    assert "over time" in t.state["history"][-1]["reason"] and t.state["agents"]["ann"]["fails"] == 2


def test_reaching_the_top_finishes_the_run_with_a_summary():
    strategy = sao(levels=2)
    t, _ = climb(strategy, strategy.start("x"), "ann", [True, True])
    (finish,) = [a for a in t.actions if isinstance(a, Finish)]
    assert "ann: reached the top, total reward 1.5" in finish.result
    assert t.state["agents"]["ann"]["status"] == "top" and not steps(t)


def test_agents_climb_in_parallel_and_the_run_waits_for_all_unless_first_wins():
    strategy = sao(levels=1, members=("ann", "ben"), max_attempts=2)
    t = strategy.start("x")
    assert {s.agent for s in steps(t)} == {"ann", "ben"}
    t = answer(strategy, t, "ann")  # ann tops out; ben still climbing
    assert not any(isinstance(a, Finish) for a in t.actions)
    t = answer(strategy, t, "ben", right=False)
    t = answer(strategy, t, "ben", right=False)  # ben used its two attempts
    assert any(isinstance(a, Finish) for a in t.actions)
    assert t.state["agents"]["ben"]["status"] == "out"
    first = sao(levels=1, members=("ann", "ben"), finish_when="first")
    t = answer(first, first.start("x"), "ben")
    assert any(isinstance(a, Finish) for a in t.actions)


def test_progress_loaded_at_start_is_resumed_and_a_finished_agent_waits():
    strategy = sao(members=("ann", "ben"))
    progress = {
        "ann": {"level": 3, "total_reward": 1.5, "attempts": 2, "passes": 2, "level_attempts": {"1": 1, "2": 1}},
        "ben": {"level": 4, "total_reward": 8.5, "reached_top": True},
    }
    t = strategy.start("x", context={"progress": progress})
    (step,) = steps(t)
    assert (step.key, step.agent) == ("ann#3", "ann")  # lifetime attempt numbers keep keys unique
    t = answer(strategy, t, "ann")
    assert t.state["agents"]["ann"]["total_reward"] == 3.5 and t.state["agents"]["ann"]["level"] == 4
    fresh = sao(members=("ann",), resume=False)
    assert fresh.start("x", context={"progress": progress}).state["agents"]["ann"]["level"] == 1


def test_an_llm_judge_runs_as_a_step_and_its_score_decides():
    config = {
        "levels": [{"source": {"dataset": [{"task": "name a colour"}]}}],
        "judge": {"kind": "llm", "agent": "referee", "retries": 1},
        "pass_score": 0.7,
    }
    strategy = build_strategy("sao", config, ["ann", "referee"])
    assert strategy.agents == ["ann"]  # the judge does not climb
    t = strategy.start("x")
    t = answer(strategy, t, "ann", result=ok("blue"))
    (judge,) = steps(t)
    assert judge.agent == "referee" and judge.key == "ann#1-judge-0#0" and "blue" in judge.input
    t = strategy.on_fact(t.state, StepFinished(judge.key, "referee", ok("not json")))
    (again,) = steps(t)  # asked once more
    t = strategy.on_fact(t.state, StepFinished(again.key, "referee", ok('{"winner": "ann", "scores": {"ann": 0.9}}')))
    assert t.state["history"][0]["passed"] and any(isinstance(a, Finish) for a in t.actions)


def test_generated_levels_are_seeded_and_the_same_for_every_agent():
    strategy = build_strategy("sao", {"seed": 7}, ["ann", "ben"])  # four arithmetic levels by default
    t = strategy.start("x")
    assert len({s.input for s in steps(t)}) == 1
    assert steps(t)[0].input == generate("arithmetic", 1, "7:1:0").text
    assert [lv.reward for lv in strategy.levels] == [0.5, 1.0, 2.0, 5.0]
    task = generate("arithmetic", 4, "seed")
    assert task == generate("arithmetic", 4, "seed") and task.checker == "numeric"


def test_bad_configs_report_every_field():
    config = {
        "levels": [{"source": {"dataset": [{"task": "no answer"}]}, "reward": -1}, {"source": "poetry"}],
        "agents": ["ghost"],
        "finish_when": "never",
    }
    with pytest.raises(StrategyConfigError) as err:
        build_strategy("sao", config, ["ann"])
    assert set(err.value.fields) == {
        "levels[0].source.dataset[0].expected",
        "levels[0].reward",
        "levels[1].source.generator",
        "agents",
        "finish_when",
    }


def test_the_snapshot_shows_each_agents_place_on_the_ladder_and_reward_history():
    strategy = sao(levels=3)
    t, _ = climb(strategy, strategy.start("x"), "ann", [True, False, True])
    panel = t.actions[-1].data
    assert panel == sao_snapshot(t.state, levels=strategy.levels, agents=["ann"], max_attempts=20)
    (row,) = panel["agents"]
    assert [c["mark"] for c in row["track"]] == ["reached", "current", ""]
    assert [m["passed"] for m in row["marks"]] == [True, False, True] and row["total_reward"] == 1.0
    assert panel["history"][0]["n"] == 3 and panel["view"] == "sao"
