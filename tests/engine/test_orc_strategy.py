"""ORC as a pure state machine: succession through trials, ties to the leader, cooldowns, Elo, rotation."""

import pytest

from apps.engine.errors import StrategyConfigError
from apps.engine.strategies import Finish, RunStep, StepFinished, build_strategy
from apps.engine.strategies.orc import elo_update, orc_snapshot
from apps.engine.values import StepOutcome, StepResult

MEMBERS = ["alpha", "beta", "gamma"]


def ok(text):
    return StepResult(StepOutcome.SUCCESS, content=text)


def steps(t):
    return [a for a in t.actions if isinstance(a, RunStep)]


def play(strategy, t, answers):
    """Answer every outstanding step: agent -> text."""
    for step in steps(t):
        t = strategy.on_fact(t.state, StepFinished(step.key, step.agent, ok(answers[step.agent])))
    return t


def orc(**extra):
    config = {"tasks": [{"task": f"q{i}", "expected": "42"} for i in range(1, 5)], "k_factor": 32, **extra}
    return build_strategy("orc", config, MEMBERS)


def test_elo_moves_ratings_by_k_times_the_surprise():
    assert elo_update(1000, 1000, 1.0, 32) == 1016
    assert elo_update(1000, 1000, 0.5, 32) == 1000
    assert round(elo_update(1200, 1000, 0.0, 32), 2) == round(1200 - 32 * (1 / (1 + 10 ** (-200 / 400))), 2)


def test_a_winning_challenger_becomes_leader_and_the_ratings_move():
    strategy = orc(challenge={"pick": "round_robin"})
    t = strategy.start("ignored")
    assert t.state["leaders"] == {"general": "alpha"}
    assert [(s.key, s.agent) for s in steps(t)] == [("t1-trial-alpha", "alpha"), ("t1-trial-beta", "beta")]
    t = play(strategy, t, {"alpha": "41", "beta": "42"})
    trial = t.state["trials"][0]
    assert trial["winner"] == "beta" and trial["leader_after"] == "beta" and not trial["tie"]
    ratings = t.state["ratings"]["general"]
    assert ratings["beta"]["rating"] == 1016 and ratings["alpha"]["wins"] == 0 and ratings["alpha"]["losses"] == 1
    assert steps(t)[0].key == "t2-trial-beta"  # task 2: beta leads, the next challenger (gamma) contests


def test_a_tie_goes_to_the_leader_and_counts_as_a_defence():
    strategy = orc()
    t = strategy.start("x")
    t = play(strategy, t, {"alpha": "42", "beta": "42"})
    trial = t.state["trials"][0]
    assert trial["tie"] and trial["winner"] == "alpha" and trial["leader_after"] == "alpha"
    record = t.state["ratings"]["general"]["alpha"]
    assert record["ties"] == 1 and record["defence_streak"] == 1 and record["rating"] == 1000


def test_cooldown_probability_and_minimum_rating_limit_challenges():
    strategy = orc(challenge={"cooldown": 5, "pick": "highest_rated"})
    t = strategy.start("x")
    t = play(strategy, t, {"alpha": "42", "beta": "0"})  # beta challenges and loses
    t = play(strategy, t, {"alpha": "42", "gamma": "0"})  # beta cools down; gamma challenges
    assert [s.key for s in steps(t)] == ["t3-answer"]  # both cooling down: the leader answers alone
    never = orc(challenge={"probability": 0})
    assert [s.key for s in steps(never.start("x"))] == ["t1-answer"]
    picky = orc(challenge={"min_rating": 1001})
    assert [s.key for s in steps(picky.start("x"))] == ["t1-answer"]


def test_ratings_loaded_at_start_decide_the_leader_and_min_trials_guard_leadership():
    ratings = {"general": {"gamma": {"rating": 1300, "trials": 9, "wins": 9}, "beta": {"rating": 1100, "trials": 1}}}
    strategy = orc(min_trials=3, challenge={"probability": 1})
    t = strategy.start("x", context={"ratings": ratings})
    assert t.state["leaders"]["general"] == "gamma" and t.state["ratings"]["general"]["gamma"]["wins"] == 9
    t = play(strategy, t, {"gamma": "0", "beta": "42"})  # beta wins with 2 trials: not enough to lead
    assert t.state["trials"][0]["winner"] == "beta" and t.state["leaders"]["general"] == "gamma"


def test_forced_rotation_after_max_defences():
    strategy = orc(max_defences=2, challenge={"pick": "round_robin"})
    t = strategy.start("x")
    t = play(strategy, t, {"alpha": "42", "beta": "0"})
    t = play(strategy, t, {"alpha": "42", "gamma": "0"})
    # alpha defended twice and was rotated out, to the best-rated other (gamma lost to a stronger alpha)
    assert t.state["leaders"]["general"] == "gamma"
    assert t.state["trials"][1]["leader_after"] == "gamma"
    assert t.state["ratings"]["general"]["alpha"]["defence_streak"] == 0


def test_domains_are_given_or_injected_and_round_robin_contests_rate_every_pair():
    config = {
        "domains": {"math": {"agents": ["alpha", "beta", "gamma"]}, "words": {"agents": ["beta", "gamma"]}},
        "tasks": [{"task": "6*7", "expected": "42"}, {"task": "spell it", "expected": "cat", "domain": "words"}],
        "contest": "round_robin",
    }
    strategy = build_strategy("orc", config, MEMBERS)
    t = strategy.start("x", context={"domains": ["math", None]})
    assert [s.agent for s in steps(t)] == ["alpha", "beta", "gamma"]
    t = play(strategy, t, {"alpha": "1", "beta": "42", "gamma": "2"})
    math = t.state["ratings"]["math"]
    assert math["beta"]["wins"] == 2 and math["alpha"]["ties"] == 1 and t.state["leaders"]["math"] == "beta"
    t = play(strategy, t, {"beta": "dog", "gamma": "cat"})
    assert t.state["leaders"]["words"] == "gamma"
    finish = next(a for a in t.actions if isinstance(a, Finish))
    assert finish.result == "1. [math] beta: 42\n2. [words] gamma: cat"
    snap = orc_snapshot(t.state)
    assert snap["view"] == "orc" and snap["boards"][0]["rows"][0]["agent"] == "beta" and len(snap["trials"]) == 2


def test_an_llm_judge_is_an_agent_step_in_the_trial():
    config = {"judge": {"kind": "llm", "agent": "gamma"}, "domains": {"g": {"agents": ["alpha", "beta"]}}}
    strategy = build_strategy("orc", config, MEMBERS)
    t = strategy.start("task")
    t = play(strategy, t, {"alpha": "A", "beta": "B"})
    assert [(s.key, s.agent) for s in steps(t)] == [("t1-judge-0#0", "gamma")]
    verdict = ok('{"winner": "beta", "scores": {"beta": 1}}')
    t = strategy.on_fact(t.state, StepFinished("t1-judge-0#0", "gamma", verdict))
    assert t.state["leaders"]["g"] == "beta" and next(a for a in t.actions if isinstance(a, Finish)).result == "B"


def test_bad_configs_are_refused_with_field_errors():
    with pytest.raises(StrategyConfigError) as err:
        build_strategy(
            "orc",
            {"domains": {"m": {"agents": ["zed"]}}, "challenge": {"probability": 2}, "contest": "brawl", "k_factor": 0},
            MEMBERS,
        )
    assert set(err.value.fields) == {"domains.m.agents", "challenge.probability", "contest", "k_factor"}
