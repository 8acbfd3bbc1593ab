"""Step completions of one run that arrive together are recorded in one transaction, each exactly once."""

import threading
from concurrent.futures import Future

import pytest

from apps.engine.values import StepOutcome, StepResult
from apps.runs import services
from apps.runs.models import Run, RunStatus, Step, StepStatus


@pytest.mark.django_db(transaction=True)
def test_concurrent_completions_are_combined_and_each_recorded_once(alice, make_agent, make_swarm, monkeypatch):
    # This test plays the workers itself: nothing may reach a real worker that other tests started.
    monkeypatch.setattr(services, "_dispatch_steps", lambda step_ids, delay_s=0.0: None)
    monkeypatch.setattr(services, "_dispatch_begin", lambda run_id: None)
    workers = [make_agent(f"w{i}", config={"replies": [f"w{i} done"]}) for i in range(12)]
    nodes = [{"name": f"n{i}", "agent": f"w{i}"} for i in range(12)]
    swarm = make_swarm(name="wide", strategy="heist", agents=workers, strategy_config={"nodes": nodes})
    run = services.start_run(swarm=swarm, task="go", user=alice)
    services.begin_run(run.pk)
    steps = list(Step.objects.filter(run=run).order_by("index"))
    assert len(steps) == 12
    claims = [services.claim_step(step) for step in steps]
    assert all(claims)
    combiner = services._combiner(run.pk)
    outcomes: list[bool] = []
    hold = threading.Event()
    original = services._record_completions

    def slow_first(*args, **kwargs):  # keep the leader busy so the others queue up behind it
        hold.wait(2)
        return original(*args, **kwargs)

    services._record_completions = slow_first
    try:
        threads = [
            threading.Thread(
                target=lambda s=s, c=c: outcomes.append(
                    services.complete_step(s, c.token, StepResult(StepOutcome.SUCCESS, content=f"{s.agent_name} ok"))
                )
            )
            for s, c in zip(steps, claims, strict=True)
        ]
        for thread in threads:
            thread.start()
        hold.set()
        for thread in threads:
            thread.join(10)
    finally:
        services._record_completions = original
    assert outcomes == [True] * 12
    assert combiner.batches < 12 and combiner.largest_batch > 1
    run = Run.objects.get(pk=run.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert Step.objects.filter(run=run, status=StepStatus.SUCCEEDED).count() == 12
    # A late duplicate of a completion changes nothing.
    assert services.complete_step(steps[0], claims[0].token, StepResult(StepOutcome.SUCCESS, content="again")) is False
    assert run.events.filter(kind="step.finished").count() == 12


@pytest.mark.django_db(transaction=True)
def test_one_failing_completion_does_not_cost_the_others_theirs(alice, make_agent, make_swarm, monkeypatch):
    monkeypatch.setattr(services, "_dispatch_steps", lambda step_ids, delay_s=0.0: None)
    monkeypatch.setattr(services, "_dispatch_begin", lambda run_id: None)
    workers = [make_agent(f"w{i}", config={"replies": ["ok"]}) for i in range(3)]
    nodes = [{"name": f"n{i}", "agent": f"w{i}"} for i in range(3)]
    swarm = make_swarm(name="wide", strategy="heist", agents=workers, strategy_config={"nodes": nodes})
    run = services.start_run(swarm=swarm, task="go", user=alice)
    services.begin_run(run.pk)
    steps = list(Step.objects.filter(run=run).order_by("index"))
    claims = [services.claim_step(step) for step in steps]
    original = services._record_completions
    broken = {"once": True}

    def fail_the_batch_once(run_, completions, log):
        if len(completions) > 1 and broken.pop("once", False):
            original(run_, completions, log)  # writes, then the transaction rolls back
            raise RuntimeError("disk hiccup")
        return original(run_, completions, log)

    monkeypatch.setattr(services, "_record_completions", fail_the_batch_once)
    combiner = services._combiner(run.pk)
    futures = [Future() for _ in steps[:2]]  # two callers: one with two completions, one with one
    done = StepResult(StepOutcome.SUCCESS, content="ok")
    completions = [services.Completion(s, done, c.token) for s, c in zip(steps, claims, strict=True)]
    combiner._record([(completions[:2], futures[0]), (completions[2:], futures[1])])
    assert [f.result() for f in futures] == [[True, True], [True]]  # the retry one by one recorded all three
    assert Step.objects.filter(run=run, status=StepStatus.SUCCEEDED).count() == 3
    run = Run.objects.get(pk=run.pk)
    assert run.status == RunStatus.SUCCEEDED
    assert run.events.filter(kind="step.finished").count() == 3  # the rolled-back batch left no trace
