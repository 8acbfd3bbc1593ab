"""The puppeteer strategy as a pure state machine, with a stand-in policy source."""

import pytest

from apps.engine.errors import StrategyConfigError
from apps.engine.strategies import build_strategy, puppeteer
from apps.engine.strategies.base import Fail, Finish, Progress, RunStep, StepFinished
from apps.engine.strategies.puppeteer import LoadedPolicy, use_policy_source
from apps.engine.values import StepOutcome, StepResult


def scripted_policy(plan, seen):
    """Chooses the agents of ``plan`` in turn, then stops; records what it was shown."""

    def choose(task, outputs, *, greedy, seed):
        seen.append((task, [o["agent"] for o in outputs], greedy, seed))
        return plan[len(outputs)] if len(outputs) < len(plan) else None

    return LoadedPolicy(agent_names=("lookup", "calc"), call_costs={"lookup": 2.0, "calc": 1.0}, choose=choose)


@pytest.fixture
def policy_source():
    """Policies by training run id, served to the strategy instead of the platform's loader (restored after)."""
    policies = {}

    def load(run_id):
        if run_id not in policies:
            raise LookupError(f"No training run {run_id}.")
        return policies[run_id]

    previous = puppeteer._policy_source
    use_policy_source(load)
    yield policies
    use_policy_source(previous)


def ok(text):
    return StepResult(StepOutcome.SUCCESS, content=text)


def test_the_policy_picks_each_agent_then_terminate_finishes_with_the_last_output(policy_source):
    seen = []
    policy_source[7] = scripted_policy(["lookup", "calc"], seen)
    strategy = build_strategy("puppeteer", {"training_run": 7}, ["lookup", "calc"])
    t = strategy.start("population of Ixa times 2")
    step = next(a for a in t.actions if isinstance(a, RunStep))
    assert (step.agent, step.input) == ("lookup", "population of Ixa times 2")
    t = strategy.on_fact(t.state, StepFinished(step.key, "lookup", ok("1200")))
    step = next(a for a in t.actions if isinstance(a, RunStep))
    assert step.agent == "calc" and step.input.endswith("- lookup: 1200")
    t = strategy.on_fact(t.state, StepFinished(step.key, "calc", ok("2400")))
    assert any(isinstance(a, Finish) and a.result == "2400" for a in t.actions)
    panel = next(a for a in t.actions if isinstance(a, Progress)).data
    assert [(x["agent"], x["ok"], x["cost"]) for x in panel["turns"]] == [("lookup", True, 2.0), ("calc", True, 3.0)]
    assert panel["stopped"] is True
    assert [s[1] for s in seen] == [[], ["lookup"], ["lookup", "calc"]]


def test_stopping_before_any_agent_acted_fails_the_run(policy_source):
    policy_source[1] = scripted_policy([], [])
    t = build_strategy("puppeteer", {"training_run": 1}, ["lookup", "calc"]).start("x")
    assert any(isinstance(a, Fail) for a in t.actions)


def test_the_step_limit_ends_the_run_even_if_the_policy_would_go_on(policy_source):
    policy_source[1] = scripted_policy(["calc"] * 10, [])
    strategy = build_strategy("puppeteer", {"training_run": 1, "max_steps": 2}, ["lookup", "calc"])
    t = strategy.start("x")
    for n in range(2):
        step = next(a for a in t.actions if isinstance(a, RunStep))
        t = strategy.on_fact(t.state, StepFinished(step.key, "calc", ok(str(n))))
    assert any(isinstance(a, Finish) and a.result == "1" for a in t.actions)


def test_sampled_choices_get_a_seed_per_turn(policy_source):
    seen = []
    policy_source[1] = scripted_policy(["calc", "calc"], seen)
    strategy = build_strategy("puppeteer", {"training_run": 1, "greedy": False, "seed": 3}, ["lookup", "calc"])
    t = strategy.start("x")
    step = next(a for a in t.actions if isinstance(a, RunStep))
    strategy.on_fact(t.state, StepFinished(step.key, "calc", ok("1")))
    assert [(greedy, seed) for _, _, greedy, seed in seen] == [(False, 3 * 100_003), (False, 3 * 100_003 + 1)]


def test_bad_configs_name_their_fields(policy_source):
    policy_source[1] = scripted_policy([], [])
    with pytest.raises(StrategyConfigError) as missing:
        build_strategy("puppeteer", {}, ["lookup", "calc"])
    assert "training_run" in missing.value.fields
    with pytest.raises(StrategyConfigError) as unknown:
        build_strategy("puppeteer", {"training_run": 99}, ["lookup", "calc"])
    assert "No training run 99" in unknown.value.fields["training_run"][0]
    with pytest.raises(StrategyConfigError) as lacking:
        build_strategy("puppeteer", {"training_run": 1, "greedy": "yes"}, ["calc"])
    assert set(lacking.value.fields) == {"greedy", "training_run"}
