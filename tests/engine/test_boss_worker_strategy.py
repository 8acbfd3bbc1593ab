"""The boss-worker (director) state machine: orders, parallel workers, retries, reassignment, partial results."""

import json

import pytest

from apps.engine.errors import StrategyConfigError
from apps.engine.strategies import Finish, RunStep, StepFinished, build_strategy
from apps.engine.values import StepOutcome, StepResult

MEMBERS = ["boss", "calc", "writer", "spare"]


def ok(text):
    return StepResult(StepOutcome.SUCCESS, content=text)


def bad(error="crash"):
    return StepResult(StepOutcome.ERROR, error=error)


def steps(t):
    return [a for a in t.actions if isinstance(a, RunStep)]


def orders(*pairs):
    return ok(json.dumps({"orders": [{"agent": a, "task": task} for a, task in pairs]}))


def strategy(**config):
    return build_strategy(
        "boss_worker", {"director": "boss", "retry": {"attempts": 1, "backoff_s": 0.2}, **config}, MEMBERS
    )


def test_orders_run_in_parallel_and_results_go_back_to_the_director_who_answers():
    s = strategy()
    t = s.start("Write up 6 * 7")
    (director,) = steps(t)
    assert director.agent == "boss" and json.loads(director.input)["workers"] == ["calc", "writer", "spare"]
    t = s.on_fact(t.state, StepFinished(director.key, "boss", orders(("calc", "6 * 7"), ("writer", "draft"))))
    assert [(x.agent, x.input) for x in steps(t)] == [("calc", "6 * 7"), ("writer", "draft")]
    first, second = steps(t)
    t = s.on_fact(t.state, StepFinished(first.key, "calc", ok("42")))
    assert steps(t) == []  # waits for every order of the loop
    t = s.on_fact(t.state, StepFinished(second.key, "writer", ok("a draft")))
    (director,) = steps(t)
    results = json.loads(director.input)["results"]
    assert [(r["agent"], r["output"]) for r in results] == [("calc", "42"), ("writer", "a draft")]
    t = s.on_fact(t.state, StepFinished(director.key, "boss", ok('```json\n{"answer": "42, written up"}\n```')))
    assert Finish("42, written up") in t.actions


def test_orders_for_unknown_or_unavailable_workers_are_rejected_back_to_the_director():
    s = strategy()
    t = s.start("x")
    t = s.on_fact(t.state, StepFinished(steps(t)[0].key, "boss", orders(("ghost", "boo"))))
    (director,) = steps(t)
    assert "Unknown worker 'ghost'" in json.loads(director.input)["rejected"][0]


def test_a_failing_worker_is_retried_then_marked_unavailable_and_the_order_reassigned():
    s = strategy()
    t = s.start("x")
    t = s.on_fact(t.state, StepFinished(steps(t)[0].key, "boss", orders(("calc", "1 + 1"))))
    t = s.on_fact(t.state, StepFinished(steps(t)[0].key, "calc", bad("overheated")))
    (retry,) = steps(t)
    assert (retry.agent, retry.delay_s) == ("calc", 0.2)
    t = s.on_fact(t.state, StepFinished(retry.key, "calc", bad("overheated")))
    (director,) = steps(t)
    brief = json.loads(director.input)
    assert brief["workers"] == ["writer", "spare"] and brief["results"][0]["status"] == "failed"
    t = s.on_fact(t.state, StepFinished(director.key, "boss", orders(("calc", "1 + 1"), ("spare", "1 + 1"))))
    assert [x.agent for x in steps(t)] == ["spare"]
    assert "calc" in t.state["rejected"][0]


def test_when_no_healthy_worker_remains_the_run_finishes_with_partial_results():
    s = build_strategy("boss_worker", {"director": "boss", "workers": ["calc"], "retry": {"attempts": 0}}, MEMBERS)
    t = s.start("x")
    t = s.on_fact(t.state, StepFinished(steps(t)[0].key, "boss", orders(("calc", "1 + 1"))))
    t = s.on_fact(t.state, StepFinished(steps(t)[0].key, "calc", bad("gone")))
    (finish,) = [a for a in t.actions if isinstance(a, Finish)]
    assert finish.result.startswith("Partial results: no healthy worker remains.")
    assert "- order 1 (calc: 1 + 1): gone" in finish.result


def test_malformed_director_replies_are_sent_back_then_give_up():
    s = strategy(max_invalid=2)
    t = s.start("x")
    t = s.on_fact(t.state, StepFinished(steps(t)[0].key, "boss", ok("I think we should...")))
    (director,) = steps(t)
    assert "not valid JSON" in json.loads(director.input)["rejected"][0]
    t = s.on_fact(t.state, StepFinished(director.key, "boss", ok('{"orders": []}')))
    (finish,) = [a for a in t.actions if isinstance(a, Finish)]
    assert "the director's replies were not valid" in finish.result


def test_the_director_must_conclude_within_max_loops():
    s = strategy(max_loops=1)
    t = s.start("x")
    t = s.on_fact(t.state, StepFinished(steps(t)[0].key, "boss", orders(("calc", "1"))))
    t = s.on_fact(t.state, StepFinished(steps(t)[0].key, "calc", ok("1")))
    (finish,) = [a for a in t.actions if isinstance(a, Finish)]
    assert "did not conclude within 1 loops" in finish.result and "- order 1 (calc): 1" in finish.result


def test_bad_configs_are_rejected():
    with pytest.raises(StrategyConfigError) as caught:
        build_strategy("boss_worker", {"director": "nobody", "workers": ["ghost"]}, MEMBERS)
    assert set(caught.value.fields) == {"director", "workers"}
