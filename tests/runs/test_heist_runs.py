"""HEIST workflows through the run services and a real Celery worker."""

import pytest

from apps.runs import services
from apps.runs.models import RunEvent, RunStatus
from tests.conftest import drive, wait_for_run


@pytest.fixture
def workflow(make_agent, make_swarm):
    agents = [
        make_agent("fetcher", config={"replies": [{"error": "upstream timed out"}], "cycle": True, "delay_ms": 1}),
        make_agent("mirror", config={"replies": ["data from the mirror"], "delay_ms": 1}),
        make_agent("parser", provider="skill", config={"skill": "echo", "template": "parsed({{ input }})"}),
        make_agent("counter", provider="skill", config={"skill": "calculator"}),
        make_agent("writer", provider="skill", config={"skill": "echo", "template": "REPORT {{ input }}"}),
    ]
    nodes = [
        {"name": "fetch", "agent": "fetcher", "fallbacks": ["mirror"], "retry": {"attempts": 1, "backoff_s": 0.2}},
        {"name": "parse", "agent": "parser", "depends_on": ["fetch"], "input": "{{ outputs.fetch }}"},
        {"name": "count", "agent": "counter", "input": "6 * 7"},
        {
            "name": "report",
            "agent": "writer",
            "depends_on": ["parse", "count"],
            "input": "{{ outputs.parse }} / {{ outputs.count }}",
        },
    ]
    return make_swarm(name="pipeline", strategy="heist", agents=agents, strategy_config={"nodes": nodes})


@pytest.mark.django_db
def test_a_failing_node_retries_then_recovers_via_its_fallback(alice, workflow):
    run = drive(services.start_run(swarm=workflow, task="nightly", user=alice))
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.result == "report: REPORT parsed(data from the mirror) / 42"
    fetch_steps = list(run.steps.filter(key__startswith="fetch").values_list("key", "agent_name", "status"))
    assert fetch_steps == [
        ("fetch#0.0", "fetcher", "failed"),
        ("fetch#0.1", "fetcher", "failed"),
        ("fetch#1.0", "mirror", "succeeded"),
    ]
    progress = list(RunEvent.objects.filter(run=run, kind="strategy.progress").values_list("data", flat=True))
    seen = {(n["name"], n["status"]) for p in progress for n in p["nodes"]}
    assert {("fetch", "retrying"), ("fetch", "fallback"), ("fetch", "done"), ("report", "waiting")} <= seen


@pytest.mark.worker
def test_the_same_workflow_through_a_real_worker(alice, workflow, celery_worker):
    run = wait_for_run(services.start_run(swarm=workflow, task="nightly", user=alice), timeout=30)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.result == "report: REPORT parsed(data from the mirror) / 42"
    first, retry = run.steps.get(key="fetch#0.0"), run.steps.get(key="fetch#0.1")
    assert (retry.started_at - first.finished_at).total_seconds() >= 0.15  # the backoff was honoured


@pytest.mark.django_db
def test_a_workflow_built_in_code_executes(alice, make_agent):
    from apps.engine.errors import StrategyConfigError
    from apps.engine.workflow import Workflow
    from apps.swarms.workflows import execute_workflow

    make_agent("broken", config={"replies": [{"error": "nope"}]})
    make_agent("backup", config={"replies": ["from backup"]})
    make_agent("shout", provider="skill", config={"skill": "echo", "template": "{{ input | upper }}"})
    flow = Workflow().add_task("get", "broken").add_fallback("get", "backup")
    flow.add_task("loud", "shout", depends_on=["get"], input="{{ outputs.get }}")
    run = drive(execute_workflow(owner=alice, workflow=flow, task="t", name="coded"))
    assert run.status == RunStatus.SUCCEEDED and run.result == "loud: FROM BACKUP"
    with pytest.raises(StrategyConfigError, match="Invalid workflow"):
        Workflow().add_task("a", "x", depends_on=["b"]).add_task("b", "x", depends_on=["a"]).config()
