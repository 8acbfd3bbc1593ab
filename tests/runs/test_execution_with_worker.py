"""Runs executed by a real Celery worker over real Redis, dispatched after commit."""

import pytest

from apps.core.demo import seed_demo
from apps.runs import services
from apps.runs.models import RunStatus
from apps.swarms.models import Swarm
from tests.conftest import wait_for_run
from tests.support.openai_server import LocalOpenAIServer, ScriptedResponse

pytestmark = [pytest.mark.worker]


@pytest.fixture
def demo(alice, celery_worker):
    seed_demo(alice)
    return {s.name: s for s in Swarm.objects.filter(owner=alice)}


def test_the_demo_pipeline_runs_through_the_worker(demo, alice):
    run = services.start_run(swarm=demo["Number cruncher"], task="What is (17 + 25) * 3?", user=alice)
    run = wait_for_run(run)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert "126 squared is 15876" in run.result


def test_the_demo_chat_room_runs_through_the_worker(demo, alice):
    run = wait_for_run(services.start_run(swarm=demo["Product meeting"], task="Build it?", user=alice))
    assert run.status == RunStatus.SUCCEEDED
    assert run.messages.count() == 7  # the task and six turns; the critic closes on its second turn


def test_the_human_demo_waits_then_resumes_after_an_answer(demo, alice):
    run = services.start_run(swarm=demo["Trip planner with approval"], task="Two days in Porto", user=alice)
    run = wait_for_run(run, statuses={RunStatus.WAITING_INPUT})
    request = run.human_requests.get()
    services.answer_human_request(request_id=request.pk, answer={"decision": "approve", "notes": ""}, user=alice)
    run = wait_for_run(run)
    assert run.status == RunStatus.SUCCEEDED and "Decision: approve" in run.result


def test_several_runs_progress_at_once(demo, alice):
    runs = [services.start_run(swarm=demo["Number cruncher"], task=f"{i} * 2", user=alice) for i in range(6)]
    results = [wait_for_run(r).result for r in runs]
    assert [r.splitlines()[-1] for r in results] == [
        f"The value is {i * 2}; {i * 2} squared is {(i * 2) ** 2}." for i in range(6)
    ]


def test_an_llm_agent_answers_through_the_worker(alice, make_agent, make_swarm, celery_worker):
    server = LocalOpenAIServer().start()
    try:
        server.responses.append(ScriptedResponse(content="A local model says hello."))
        llm = make_agent("llm", provider="openai", config={"base_url": server.base_url, "model": "m", "timeout_s": 5})
        run = services.start_run(swarm=make_swarm(strategy="sequential", agents=[llm]), task="greet", user=alice)
        run = wait_for_run(run)
    finally:
        server.stop()
    assert run.status == RunStatus.SUCCEEDED and run.result == "A local model says hello."
    step = run.steps.get()
    assert step.prompt_tokens == 12 and step.completion_tokens == 7
    assert server.requests[0]["messages"][-1] == {"role": "user", "content": "greet"}


def test_the_memory_demo_finds_by_meaning_what_the_scout_wrote(demo, alice):
    run = wait_for_run(services.start_run(swarm=demo["Memory desk"], task="Can trucks cross the river?", user=alice))
    assert run.status == RunStatus.SUCCEEDED, run.error
    first_hit = run.result.splitlines()[1]
    assert "bridge on route 9" in first_hit


def test_seeding_twice_keeps_one_training_dataset(demo, alice):
    from apps.learning.models import TrainingDataset

    seed_demo(alice)
    dataset = TrainingDataset.objects.get(owner=alice)
    assert len(dataset.tasks) == 60 and {t["family"] for t in dataset.tasks} == {"sum", "repeat"}


def test_the_llm_calls_of_a_fan_out_wait_at_once_through_the_worker(alice, make_agent, make_swarm, celery_worker):
    server = LocalOpenAIServer().start()
    try:
        server.responses += [ScriptedResponse(content=f"answer {i}", delay_s=0.5) for i in range(6)]
        config = {"base_url": server.base_url, "model": "m", "timeout_s": 5, "max_retries": 0}
        llm = make_agent("llm", provider="openai", config=config)
        nodes = [{"name": f"n{i}", "agent": "llm", "input": f"part {i}"} for i in range(6)]
        swarm = make_swarm(name="fan", strategy="heist", agents=[llm], strategy_config={"nodes": nodes})
        run = wait_for_run(services.start_run(swarm=swarm, task="go", user=alice))
    finally:
        server.stop()
    assert run.status == RunStatus.SUCCEEDED, run.error
    steps = list(run.steps.all())
    assert sorted(s.output for s in steps) == [f"answer {i}" for i in range(6)]  # streamed, each to its own step
    assert all(s.prompt_tokens == 12 and s.completion_tokens == 7 for s in steps)
    assert max(s.started_at for s in steps) < min(s.finished_at for s in steps)  # six 0.5 s answers waited at once
    assert sorted(r["messages"][-1]["content"] for r in server.requests) == [f"part {i}" for i in range(6)]


def test_the_demo_workflow_recovers_its_failing_node_by_fallback_through_the_worker(demo, alice):
    from apps.runs.models import Step

    run = wait_for_run(services.start_run(swarm=demo["Launch checklist"], task="Launch it", user=alice))
    assert run.status == RunStatus.SUCCEEDED, run.error
    for part in ("Market: three hosted", "Pricing: a free", "Licences: Apache-2.0"):
        assert part in run.result
    tries = list(Step.objects.filter(run=run, agent_name__in=["legal-db", "paralegal"]).order_by("index"))
    assert [(s.agent_name, s.status) for s in tries] == [
        ("legal-db", "failed"),
        ("legal-db", "failed"),  # retried once
        ("paralegal", "succeeded"),  # then the fallback
    ]
    market, pricing = (Step.objects.get(run=run, agent_name=name) for name in ("researcher", "pricer"))
    assert max(market.started_at, pricing.started_at) < min(market.finished_at, pricing.finished_at)  # in parallel
