"""Boss-worker runs: a scripted director, workers in parallel, a failure reassigned, through a real worker."""

import json

import pytest

from apps.agents.governance import Acting, terminate_agent
from apps.runs import services
from apps.runs.models import RunStatus, StepStatus
from tests.conftest import drive, wait_for_run

FIRST = json.dumps({"orders": [{"agent": "flaky", "task": "2 + 2"}, {"agent": "calc", "task": "6 * 7"}]})
SECOND = json.dumps({"orders": [{"agent": "calc", "task": "2 + 2"}]})
ANSWER = json.dumps({"answer": "4 and 42"})


@pytest.fixture
def team(make_agent, make_swarm):
    boss = make_agent("boss", config={"replies": [FIRST, SECOND, ANSWER]}, privileges=["terminate", "tool.calculator"])
    flaky = make_agent("flaky", config={"replies": [{"error": "out of memory"}], "cycle": True, "delay_ms": 1})
    calc = make_agent("calc", provider="skill", config={"skill": "calculator"})
    config = {"director": "boss", "retry": {"attempts": 1, "backoff_s": 0.1}}
    return make_swarm(name="team", strategy="boss_worker", agents=[boss, flaky, calc], strategy_config=config)


@pytest.mark.django_db
def test_the_director_reassigns_a_failed_order_and_answers(alice, team):
    run = drive(services.start_run(swarm=team, task="Add things up", user=alice))
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.result == "4 and 42"
    flaky_steps = list(run.steps.filter(agent_name="flaky").values_list("key", "status"))
    assert flaky_steps == [("order-1#0", "failed"), ("order-1#1", "failed")]
    third_brief = json.loads(run.steps.get(key="director-3").input)
    assert {r["order"]: r["status"] for r in third_brief["results"]} == {"1": "failed", "2": "done", "3": "done"}


@pytest.mark.worker
def test_through_a_real_worker_with_parallel_orders(alice, team, celery_worker):
    run = wait_for_run(services.start_run(swarm=team, task="Add things up", user=alice), timeout=30)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.result == "4 and 42"


@pytest.mark.django_db
def test_a_terminated_workers_queued_step_never_executes(alice, team, make_agent):
    from apps.agents.models import Agent

    run = services.start_run(swarm=team, task="Add things up", user=alice)
    services.begin_run(run.pk)
    services.execute_step(run.steps.get(key="director-1").pk)  # orders out: flaky and calc queued in parallel
    queued = run.steps.get(agent_name="flaky")
    assert queued.status == StepStatus.QUEUED
    boss = Agent.objects.get(name="boss")
    flaky = Agent.objects.get(name="flaky")
    flaky.parent = boss  # placed under the director so the director may terminate it
    flaky.level = 2
    flaky.save()
    terminate_agent(Acting(user=alice, agent=boss), flaky, reason="not needed")
    queued.refresh_from_db()
    assert queued.status == StepStatus.CANCELLED
    assert services.execute_step(queued.pk) is False
    run = drive(run)
    assert run.status == RunStatus.SUCCEEDED and run.result == "4 and 42"
    assert run.steps.filter(agent_name="flaky").count() == 1  # it never ran, and was never retried
