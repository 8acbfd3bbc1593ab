"""HEIST workflows as a pure state machine: parallelism, retries, fallbacks, replanning, partial results."""

import json

import pytest

from apps.engine.errors import StrategyConfigError, StrategyError
from apps.engine.strategies import Finish, Progress, RunStep, StepFinished, build_strategy
from apps.engine.strategies.heist import dag_snapshot
from apps.engine.values import StepOutcome, StepResult

MEMBERS = ["fetch", "fetch2", "parse", "write", "planner"]


def ok(text):
    return StepResult(StepOutcome.SUCCESS, content=text)


def bad(error="boom"):
    return StepResult(StepOutcome.ERROR, error=error)


def steps(t):
    return [a for a in t.actions if isinstance(a, RunStep)]


def statuses(t):
    return {n["name"]: n["status"] for n in dag_snapshot(t.state)["nodes"]}


def progress(t):
    return [a for a in t.actions if isinstance(a, Progress)][-1].data


def diamond(**extra):
    return build_strategy(
        "heist",
        {
            "nodes": [
                {"name": "a", "agent": "fetch"},
                {"name": "b", "agent": "parse", "depends_on": ["a"], "input": "parse {{ outputs.a }}"},
                {"name": "c", "agent": "parse", "depends_on": ["a"], **extra},
                {"name": "d", "agent": "write", "depends_on": ["b", "c"], "input": "{{ outputs.b }}+{{ outputs.c }}"},
            ]
        },
        MEMBERS,
    )


def test_ready_nodes_run_in_parallel_and_outputs_flow_downstream():
    strategy = diamond()
    t = strategy.start("go")
    assert [s.key for s in steps(t)] == ["a#0.0"]
    assert progress(t)["full"] and len(progress(t)["nodes"]) == 4 and len(progress(t)["edges"]) == 4
    t = strategy.on_fact(t.state, StepFinished("a#0.0", "fetch", ok("A")))
    assert [(s.key, s.input) for s in steps(t)] == [("b#0.0", "parse A"), ("c#0.0", "go")]
    assert statuses(t) == {"a": "done", "b": "running", "c": "running", "d": "waiting"}
    delta = progress(t)  # events carry only what changed; the first one carried the whole graph
    assert not delta["full"] and sorted(n["name"] for n in delta["nodes"]) == ["a", "b", "c"]
    t = strategy.on_fact(t.state, StepFinished("c#0.0", "parse", ok("C")))
    assert steps(t) == []
    t = strategy.on_fact(t.state, StepFinished("b#0.0", "parse", ok("B")))
    (d,) = steps(t)
    assert d.input == "B+C"
    t = strategy.on_fact(t.state, StepFinished(d.key, "write", ok("done")))
    assert Finish("d: done") in t.actions


def test_a_failure_is_retried_with_backoff_then_falls_back_to_the_next_agent():
    strategy = build_strategy(
        "heist",
        {
            "nodes": [
                {"name": "a", "agent": "fetch", "fallbacks": ["fetch2"], "retry": {"attempts": 2, "backoff_s": 1.5}}
            ]
        },
        MEMBERS,
    )
    t = strategy.start("go")
    t = strategy.on_fact(t.state, StepFinished("a#0.0", "fetch", bad()))
    assert [(s.key, s.agent, s.delay_s) for s in steps(t)] == [("a#0.1", "fetch", 1.5)]
    assert statuses(t)["a"] == "retrying"
    t = strategy.on_fact(t.state, StepFinished("a#0.1", "fetch", bad()))
    assert [(s.key, s.delay_s) for s in steps(t)] == [("a#0.2", 3.0)]
    t = strategy.on_fact(t.state, StepFinished("a#0.2", "fetch", bad()))
    assert [(s.key, s.agent) for s in steps(t)] == [("a#1.0", "fetch2")]
    assert statuses(t)["a"] == "fallback"
    t = strategy.on_fact(t.state, StepFinished("a#1.0", "fetch2", ok("saved")))
    assert Finish("a: saved") in t.actions


def test_without_a_planner_dependents_are_skipped_and_the_result_is_partial():
    strategy = diamond()
    t = strategy.start("go")
    t = strategy.on_fact(t.state, StepFinished("a#0.0", "fetch", ok("A")))
    t = strategy.on_fact(t.state, StepFinished("c#0.0", "parse", bad("parser crashed")))
    assert statuses(t)["c"] == "failed" and statuses(t)["d"] == "skipped"
    t = strategy.on_fact(t.state, StepFinished("b#0.0", "parse", ok("B")))
    (finish,) = [a for a in t.actions if isinstance(a, Finish)]
    assert finish.result.startswith("Partial results.")
    assert "- c (failed): parse (attempt 1): parser crashed" in finish.result
    assert "- d (skipped): skipped: an upstream node failed" in finish.result


def test_the_planner_can_replace_a_failed_node_with_a_revised_sub_graph():
    config = {
        "planner": "planner",
        "nodes": [
            {"name": "a", "agent": "fetch"},
            {"name": "b", "agent": "parse", "depends_on": ["a"]},
            {
                "name": "c",
                "agent": "write",
                "depends_on": ["b"],
                "input": "{{ outputs.b2 if outputs.b2 is defined else outputs.b }}",
            },
        ],
    }
    strategy = build_strategy("heist", config, MEMBERS)
    t = strategy.start("go")
    t = strategy.on_fact(t.state, StepFinished("a#0.0", "fetch", ok("A")))
    t = strategy.on_fact(t.state, StepFinished("b#0.0", "parse", bad("bad input")))
    (plan,) = steps(t)
    brief = json.loads(plan.input)
    assert plan.agent == "planner" and brief["failed_node"] == "b" and brief["done"] == {"a": "A"}
    revised = {
        "nodes": [
            {"name": "b2", "agent": "fetch2", "depends_on": ["a"]},
            {"name": "c", "agent": "write", "depends_on": ["b2"], "input": "{{ outputs.b2 }}"},
        ]
    }
    t = strategy.on_fact(t.state, StepFinished(plan.key, "planner", ok(f"```json\n{json.dumps(revised)}\n```")))
    assert [(s.key, s.agent) for s in steps(t)] == [("b2#0.0", "fetch2")]
    t = strategy.on_fact(t.state, StepFinished("b2#0.0", "fetch2", ok("B2")))
    t = strategy.on_fact(t.state, StepFinished(steps(t)[0].key, "write", ok("final")))
    (finish,) = [a for a in t.actions if isinstance(a, Finish)]
    assert (
        finish.result.startswith("c: final") and "Replanned around: b (parse (attempt 1): bad input)" in finish.result
    )


def test_an_invalid_plan_is_rejected_and_the_workflow_finishes_partially():
    strategy = build_strategy(
        "heist",
        {
            "planner": "planner",
            "nodes": [{"name": "a", "agent": "fetch"}, {"name": "b", "agent": "parse", "depends_on": ["a"]}],
        },
        MEMBERS,
    )
    t = strategy.start("go")
    t = strategy.on_fact(t.state, StepFinished("a#0.0", "fetch", bad()))
    plan = steps(t)[0]
    cyclic = {
        "nodes": [
            {"name": "x", "agent": "fetch", "depends_on": ["y"]},
            {"name": "y", "agent": "fetch", "depends_on": ["x"]},
        ]
    }
    t = strategy.on_fact(t.state, StepFinished(plan.key, "planner", ok(json.dumps(cyclic))))
    note = next(a for a in t.actions if getattr(a, "sender", "") == "system")
    assert "invalid graph" in note.content and "Cycle: x -> y -> x" in note.content
    assert any(isinstance(a, Finish) and a.result.startswith("Partial results.") for a in t.actions)


@pytest.mark.parametrize(
    ("nodes", "field", "message"),
    [
        (
            [
                {"name": "a", "agent": "fetch", "depends_on": ["c"]},
                {"name": "b", "agent": "fetch", "depends_on": ["a"]},
                {"name": "c", "agent": "fetch", "depends_on": ["b"]},
            ],
            "nodes",
            "Cycle: a -> c -> b -> a.",
        ),
        ([{"name": "a", "agent": "ghost"}], "nodes[0].agent", "Unknown agent 'ghost': not a member of this swarm."),
        ([{"name": "a", "agent": "fetch", "depends_on": ["zz"]}], "nodes[0].depends_on", "Unknown node 'zz'."),
        (
            [{"name": "a", "agent": "fetch"}, {"name": "a", "agent": "fetch"}],
            "nodes[1].name",
            "Duplicate node name 'a'.",
        ),
    ],
)
def test_invalid_workflows_are_rejected_naming_the_problem(nodes, field, message):
    with pytest.raises(StrategyConfigError) as caught:
        build_strategy("heist", {"nodes": nodes}, MEMBERS)
    assert message in caught.value.fields[field]


def test_a_cancelled_node_is_not_retried_but_goes_to_its_fallback():
    strategy = build_strategy(
        "heist",
        {"nodes": [{"name": "a", "agent": "fetch", "fallbacks": ["fetch2"], "retry": {"attempts": 3}}]},
        MEMBERS,
    )
    t = strategy.start("go")
    t = strategy.on_fact(t.state, StepFinished("a#0.0", "fetch", StepResult(StepOutcome.CANCELLED, error="terminated")))
    assert [(s.key, s.agent) for s in steps(t)] == [("a#1.0", "fetch2")]


def _wide(width, **extra):
    nodes = [{"name": f"n{i}", "agent": "fetch", **extra} for i in range(width)]
    nodes.append({"name": "join", "agent": "write", "depends_on": [f"n{i}" for i in range(width)]})
    return build_strategy("heist", {"nodes": nodes}, MEMBERS)


def _result_for(key):
    index = int(key[1:].split("#")[0])
    return ok(f"out{index}") if index % 7 else bad(f"flaky {index}")  # every 7th node fails


def test_a_batch_of_completions_gives_the_same_workflow_as_feeding_them_one_by_one():
    strategy = _wide(60, fallbacks=["fetch2"])
    start = strategy.start("go")
    first = steps(start)
    assert len(first) == 60

    one_by_one = start
    for step in first:
        one_by_one = strategy.on_fact(one_by_one.state, StepFinished(step.key, "fetch", _result_for(step.key)))
    batched = strategy.on_facts(start.state, [StepFinished(s.key, "fetch", _result_for(s.key)) for s in first])

    assert batched.state["nodes"] == one_by_one.state["nodes"]
    assert statuses(batched)["n7"] == "fallback" and statuses(batched)["n1"] == "done"
    retries = sorted((s.key, s.agent) for s in steps(batched))
    assert retries == sorted((f"n{i}#1.0", "fetch2") for i in range(0, 60, 7))
    messages = [a for a in batched.actions if getattr(a, "room", None) == "main"]
    assert len(messages) == 60  # one per settled attempt, as one by one
    (delta,) = [a for a in batched.actions if isinstance(a, Progress)]  # one progress event for the batch
    assert not delta.data["full"] and len(delta.data["nodes"]) == 60

    # the fallbacks succeed together: the join runs on every output
    fallbacks = [StepFinished(key, agent, ok("again")) for key, agent in retries]
    t = strategy.on_facts(batched.state, fallbacks)
    (join,) = steps(t)
    assert join.key == "join#0.0" and join.agent == "write"


def test_a_batch_settles_a_retry_and_its_second_attempt_dispatched_in_the_same_batch_is_awaited():
    strategy = _wide(3, retry={"attempts": 1, "backoff_s": 0.1})
    t = strategy.start("go")
    t = strategy.on_facts(t.state, [StepFinished("n0#0.0", "fetch", bad()), StepFinished("n1#0.0", "fetch", ok("B"))])
    (retry,) = steps(t)
    assert retry.key == "n0#0.1" and retry.delay_s == 0.1
    t = strategy.on_facts(t.state, [StepFinished("n0#0.1", "fetch", ok("A")), StepFinished("n2#0.0", "fetch", ok("C"))])
    assert [s.key for s in steps(t)] == ["join#0.0"]
    with pytest.raises(StrategyError):
        strategy.on_facts(t.state, [StepFinished("n0#0.0", "fetch", ok("late duplicate"))])


def test_dependents_wait_while_their_failed_upstream_is_replanned():
    config = {
        "planner": "planner",
        "nodes": [
            {"name": "a", "agent": "fetch"},
            {"name": "x", "agent": "fetch2"},
            {"name": "b", "agent": "parse", "depends_on": ["a"]},
        ],
    }
    strategy = build_strategy("heist", config, MEMBERS)
    t = strategy.start("go")
    t = strategy.on_fact(t.state, StepFinished("a#0.0", "fetch", bad()))
    (plan,) = steps(t)
    assert statuses(t)["b"] == "waiting"
    t = strategy.on_fact(t.state, StepFinished("x#0.0", "fetch2", ok("X")))  # another node finishes meanwhile
    assert statuses(t)["b"] == "waiting"  # not skipped: the planner may still save it
    assert not any(isinstance(a, Finish) for a in t.actions)
    t = strategy.on_fact(t.state, StepFinished(plan.key, "planner", ok('{"nodes": []}')))  # gives up
    assert statuses(t)["b"] == "skipped"
    assert any(isinstance(a, Finish) and a.result.startswith("Partial results.") for a in t.actions)


def test_a_step_of_a_node_a_replan_dropped_is_ignored_when_it_finishes():
    config = {
        "planner": "planner",
        "nodes": [{"name": "a", "agent": "fetch"}, {"name": "slow", "agent": "parse"}],
    }
    strategy = build_strategy("heist", config, MEMBERS)
    t = strategy.start("go")
    t = strategy.on_fact(t.state, StepFinished("a#0.0", "fetch", bad()))
    (plan,) = steps(t)
    revised = {"nodes": [{"name": "a2", "agent": "fetch2"}]}  # drops the still-running "slow" node too
    t = strategy.on_fact(t.state, StepFinished(plan.key, "planner", ok(json.dumps(revised))))
    t = strategy.on_fact(t.state, StepFinished("slow#0.0", "parse", ok("too late")))  # no error
    t = strategy.on_fact(t.state, StepFinished("a2#0.0", "fetch2", ok("A2")))
    assert any(isinstance(a, Finish) for a in t.actions)
