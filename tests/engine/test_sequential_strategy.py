import pytest

from apps.engine.errors import StrategyConfigError
from apps.engine.strategies import (
    AskHuman,
    Fail,
    Finish,
    HumanAnswered,
    PostMessage,
    RunStep,
    StepFinished,
    build_strategy,
)
from apps.engine.values import StepOutcome, StepResult


def ok(text: str) -> StepResult:
    return StepResult(StepOutcome.SUCCESS, content=text)


def of_type(actions, cls):
    return [a for a in actions if isinstance(a, cls)]


def test_each_stage_receives_the_previous_output_and_the_last_output_is_the_result():
    strategy = build_strategy("sequential", {}, ["a", "b"])
    t = strategy.start("task text")
    (first,) = of_type(t.actions, RunStep)
    assert (first.agent, first.input) == ("a", "task text")
    t = strategy.on_fact(t.state, StepFinished(first.key, "a", ok("from a")))
    (second,) = of_type(t.actions, RunStep)
    assert (second.agent, second.input) == ("b", "from a")
    t = strategy.on_fact(t.state, StepFinished(second.key, "b", ok("from b")))
    assert of_type(t.actions, Finish) == [Finish("from b")]
    assert [m.sender for m in of_type(t.actions, PostMessage)] == ["b"]


def test_stage_inputs_are_templates_over_task_outputs_and_answers():
    config = {
        "stages": [
            {"name": "draft", "agent": "a"},
            {"name": "ok", "ask_human": {"prompt": "Check {{ outputs.draft }}", "fields": [{"name": "verdict"}]}},
            {"name": "final", "agent": "b", "input": "{{ task }} | {{ outputs.draft }} | {{ answers.ok.verdict }}"},
        ]
    }
    strategy = build_strategy("sequential", config, ["a", "b"])
    t = strategy.start("T")
    t = strategy.on_fact(t.state, StepFinished(of_type(t.actions, RunStep)[0].key, "a", ok("D")))
    (ask,) = of_type(t.actions, AskHuman)
    assert ask.question.prompt == "Check D"
    t = strategy.on_fact(t.state, HumanAnswered(ask.key, {"verdict": "fine"}))
    (final,) = of_type(t.actions, RunStep)
    assert final.input == "T | D | fine"


def test_a_failed_stage_is_retried_then_fails_the_run():
    strategy = build_strategy("sequential", {"stages": [{"agent": "a", "retries": 1}]}, ["a"])
    t = strategy.start("x")
    failed = StepResult(StepOutcome.ERROR, error="flaky")
    key1 = of_type(t.actions, RunStep)[0].key
    t = strategy.on_fact(t.state, StepFinished(key1, "a", failed))
    key2 = of_type(t.actions, RunStep)[0].key
    assert key2 != key1
    t = strategy.on_fact(t.state, StepFinished(key2, "a", failed))
    (fail,) = of_type(t.actions, Fail)
    assert "flaky" in fail.reason


def test_state_round_trips_through_json():
    import json

    strategy = build_strategy("sequential", {}, ["a", "b"])
    t = strategy.start("x")
    state = json.loads(json.dumps(t.state))
    t2 = strategy.on_fact(state, StepFinished(of_type(t.actions, RunStep)[0].key, "a", ok("y")))
    assert of_type(t2.actions, RunStep)[0].input == "y"


def test_config_problems_are_all_reported_with_their_keys():
    config = {"stages": [{"agent": "ghost"}, {"agent": "a", "input": "{{ broken"}, {"ask_human": {}}], "colour": 1}
    with pytest.raises(StrategyConfigError) as caught:
        build_strategy("sequential", config, ["a"])
    fields = caught.value.fields
    assert "stages[0].agent" in fields and "stages[1].input" in fields
    assert "stages[2].ask_human.prompt" in fields and "colour" in fields


def test_an_unexpected_fact_is_rejected():
    from apps.engine.errors import StrategyError

    strategy = build_strategy("sequential", {}, ["a"])
    t = strategy.start("x")
    with pytest.raises(StrategyError):
        strategy.on_fact(t.state, StepFinished("someone-else#1", "a", ok("?")))


def test_stage_names_that_shadow_dict_methods_still_resolve_to_outputs():
    strategy = build_strategy(
        "sequential",
        {"stages": [{"name": "items", "agent": "a"}, {"name": "get", "agent": "a", "input": "{{ outputs.items }}"}]},
        ["a"],
    )
    t = strategy.start("x")
    t = strategy.on_fact(t.state, StepFinished(of_type(t.actions, RunStep)[0].key, "a", ok("the items")))
    assert of_type(t.actions, RunStep)[0].input == "the items"
