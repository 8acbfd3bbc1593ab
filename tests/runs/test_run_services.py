"""Run services driven in-process (no Celery): the run lifecycle, budgets, people, exactly-once results."""

from decimal import Decimal

import pytest

from apps.core.errors import Conflict, FieldsError
from apps.engine.values import StepOutcome, StepResult
from apps.runs import services
from apps.runs.models import HumanRequestStatus, Message, RunEvent, RunStatus, Step, StepStatus
from tests.conftest import drive

pytestmark = pytest.mark.django_db


def test_a_chat_room_run_posts_every_turn_and_succeeds(alice, make_agent, make_swarm):
    a = make_agent("ann", config={"replies": ["one", "three"]})
    b = make_agent("ben", config={"replies": ["two", {"content": "done", "done": True}]})
    swarm = make_swarm(agents=[a, b], strategy_config={"max_turns": 10})
    run = drive(services.start_run(swarm=swarm, task="talk", user=alice))
    assert run.status == RunStatus.SUCCEEDED and run.result == "done"
    assert list(run.messages.values_list("sender", "content")) == [
        ("task", "talk"),
        ("ann", "one"),
        ("ben", "two"),
        ("ann", "three"),
        ("ben", "done"),
    ]
    assert list(run.steps.values_list("agent_name", "call_index")) == [("ann", 0), ("ben", 0), ("ann", 1), ("ben", 1)]


def test_the_event_log_is_gapless_and_ordered(alice, make_swarm):
    run = drive(services.start_run(swarm=make_swarm(strategy_config={"max_turns": 3}), task="x", user=alice))
    seqs = list(RunEvent.objects.filter(run=run).values_list("seq", flat=True))
    assert seqs == list(range(1, run.event_seq + 1))
    kinds = list(RunEvent.objects.filter(run=run).values_list("kind", flat=True))
    assert kinds[0] == "run.status" and kinds[-1] == "run.status"
    assert kinds.count("step.finished") == 3


def test_deleting_a_run_deletes_its_event_log_and_messages_though_the_database_does_not_check_the_links(
    alice, make_swarm
):
    swarm = make_swarm(strategy_config={"max_turns": 2})
    run = drive(services.start_run(swarm=swarm, task="x", user=alice))
    other = drive(services.start_run(swarm=swarm, task="y", user=alice))
    others_messages = Message.objects.filter(run=other).count()
    assert RunEvent.objects.filter(run=run).exists() and Message.objects.filter(run=run).exists()
    run.delete()
    assert not RunEvent.objects.filter(run_id=run.pk).exists()
    assert not Message.objects.filter(run_id=run.pk).exists()
    assert RunEvent.objects.filter(run=other).count() == other.event_seq
    assert Message.objects.filter(run=other).count() == others_messages > 0


def test_deleting_a_step_unlinks_its_messages(alice, make_swarm):
    run = drive(services.start_run(swarm=make_swarm(strategy_config={"max_turns": 2}), task="x", user=alice))
    step = run.steps.first()
    message = Message.objects.create(run=run, room=step.room or run.rooms.first(), sender="s", content="c", step=step)
    step.delete()
    message.refresh_from_db()
    assert message.step_id is None


def test_a_step_result_is_recorded_exactly_once(alice, make_swarm):
    run = services.start_run(swarm=make_swarm(strategy_config={"max_turns": 2}), task="x", user=alice)
    services.begin_run(run.pk)
    step = Step.objects.get(run=run)
    claim = services.claim_step(Step.objects.get(pk=step.pk))
    assert claim is not None
    assert services.claim_step(Step.objects.get(pk=step.pk)) is None  # a duplicate delivery gets nothing
    result = StepResult(StepOutcome.SUCCESS, content="first")
    assert services.complete_step(claim.step, claim.token, result) is True
    assert services.complete_step(claim.step, claim.token, StepResult(StepOutcome.SUCCESS, content="again")) is False
    assert Step.objects.get(pk=step.pk).output == "first"
    assert run.messages.filter(content="first").count() == 1


def test_a_stale_claim_cannot_overwrite_a_reclaimed_step(alice, make_swarm):
    run = services.start_run(swarm=make_swarm(), task="x", user=alice)
    services.begin_run(run.pk)
    step = Step.objects.get(run=run)
    old = services.claim_step(Step.objects.get(pk=step.pk))
    Step.objects.filter(pk=step.pk).update(status=StepStatus.QUEUED, claim_token=None)  # as the sweeper does
    new = services.claim_step(Step.objects.get(pk=step.pk))
    assert services.complete_step(old.step, old.token, StepResult(StepOutcome.SUCCESS, content="late")) is False
    assert services.complete_step(new.step, new.token, StepResult(StepOutcome.SUCCESS, content="current")) is True


def test_the_step_budget_stops_the_run_before_dispatch(alice, make_swarm):
    run = services.start_run(swarm=make_swarm(strategy_config={"max_turns": 10}), task="x", user=alice, max_steps=3)
    run = drive(run)
    assert run.status == RunStatus.BUDGET_EXHAUSTED
    assert run.steps.count() == 3
    assert "step limit of 3" in run.error


def test_the_cost_budget_stops_the_run(alice, make_agent, make_swarm):
    pricey = make_agent("pricey", config={"replies": ["$"], "cost_per_call": "0.4"})
    swarm = make_swarm(agents=[pricey], strategy_config={"max_turns": 10})
    run = drive(services.start_run(swarm=swarm, task="x", user=alice, max_cost=Decimal("1.0")))
    assert run.status == RunStatus.BUDGET_EXHAUSTED and run.cost == Decimal("1.2")
    assert "cost limit" in run.error


def test_the_time_budget_is_enforced_by_the_sweeper(alice, make_swarm):
    from datetime import timedelta

    from django.utils import timezone

    run = services.start_run(swarm=make_swarm(), task="x", user=alice, max_seconds=5)
    services.begin_run(run.pk)
    report = services.sweep(now=timezone.now() + timedelta(seconds=6), dispatch=lambda _id: None)
    run.refresh_from_db()
    assert report.expired_runs == 1 and run.status == RunStatus.BUDGET_EXHAUSTED
    assert run.steps.get().status == StepStatus.CANCELLED


def test_the_sweeper_requeues_a_step_whose_worker_died(alice, make_swarm):
    from datetime import timedelta

    from django.utils import timezone

    run = services.start_run(swarm=make_swarm(), task="x", user=alice)
    services.begin_run(run.pk)
    step = Step.objects.get(run=run)
    assert services.claim_step(Step.objects.get(pk=step.pk)) is not None  # ...and the worker never reports back
    dispatched = []
    report = services.sweep(now=timezone.now() + timedelta(seconds=400), dispatch=dispatched.append)
    assert report.requeued_steps == 1
    step.refresh_from_db()
    assert step.status == StepStatus.QUEUED and step.claim_token is None
    services.execute_step(step.pk)
    assert Step.objects.get(pk=step.pk).status == StepStatus.SUCCEEDED


def test_a_run_waits_for_a_person_and_resumes_on_the_answer(alice, make_agent, make_swarm):
    a = make_agent("drafter", config={"replies": ["draft"]})
    b = make_agent("final", provider="skill", config={"skill": "echo", "template": "final: {{ input }}"})
    config = {
        "stages": [
            {"name": "d", "agent": "drafter"},
            {
                "name": "ok",
                "ask_human": {
                    "prompt": "Approve {{ previous }}?",
                    "fields": [{"name": "go", "kind": "choice", "choices": ["yes", "no"]}],
                },
            },
            {"agent": "final", "input": "{{ previous }} ({{ answers.ok.go }})"},
        ]
    }
    run = drive(
        services.start_run(
            swarm=make_swarm(strategy="sequential", agents=[a, b], strategy_config=config), task="t", user=alice
        )
    )
    assert run.status == RunStatus.WAITING_INPUT
    request = run.human_requests.get()
    assert request.prompt == "Approve draft?"
    with pytest.raises(FieldsError) as caught:
        services.answer_human_request(request_id=request.pk, answer={"go": "maybe"}, user=alice)
    assert caught.value.fields == {"go": ["Choose one of: yes, no."]}
    services.answer_human_request(request_id=request.pk, answer={"go": "yes"}, user=alice)
    run = drive(run)
    assert run.status == RunStatus.SUCCEEDED and run.result == "final: draft (yes)"
    with pytest.raises(Conflict):
        services.answer_human_request(request_id=request.pk, answer={"go": "no"}, user=alice)


def test_cancelling_a_run_cancels_its_steps_and_requests(alice, make_swarm):
    run = services.start_run(swarm=make_swarm(), task="x", user=alice)
    services.begin_run(run.pk)
    run = services.cancel_run(run_id=run.pk, user=alice)
    assert run.status == RunStatus.CANCELLED and "alice" in run.error
    assert set(run.steps.values_list("status", flat=True)) == {StepStatus.CANCELLED}
    assert services.execute_step(run.steps.get().pk) is False  # a late delivery does nothing
    with pytest.raises(Conflict):
        services.cancel_run(run_id=run.pk, user=alice)
    assert not run.human_requests.filter(status=HumanRequestStatus.PENDING).exists()


def test_bad_run_input_is_rejected_and_nothing_is_written(alice, make_swarm):
    from apps.runs.models import Run

    swarm = make_swarm()
    with pytest.raises(FieldsError) as caught:
        services.start_run(swarm=swarm, task="   ", user=alice, max_steps=0)
    assert set(caught.value.fields) == {"task", "max_steps"}
    assert Run.objects.count() == 0


def test_a_failing_agent_fails_a_pipeline_with_its_error(alice, make_agent, make_swarm):
    calc = make_agent("calc", provider="skill", config={"skill": "calculator"})
    run = drive(services.start_run(swarm=make_swarm(strategy="sequential", agents=[calc]), task="no maths", user=alice))
    assert run.status == RunStatus.FAILED and "Not an arithmetic expression" in run.error
    assert run.steps.get().outcome == "error"


def test_editing_the_swarm_does_not_change_a_run_in_flight(alice, make_swarm):
    from apps.swarms.services import update_swarm

    swarm = make_swarm(strategy_config={"max_turns": 2})
    run = services.start_run(swarm=swarm, task="x", user=alice)
    update_swarm(swarm, strategy_config={"max_turns": 6})
    run = drive(run)
    assert run.steps.count() == 2


def test_an_instant_step_is_recorded_once_even_if_delivered_twice(alice, make_swarm):
    run = services.start_run(swarm=make_swarm(strategy_config={"max_turns": 1}), task="x", user=alice)
    services.begin_run(run.pk)
    step = Step.objects.get(run=run)
    assert services.execute_step(step.pk) is True
    assert services.execute_step(step.pk) is False
    step.refresh_from_db()
    assert (step.status, step.attempts, step.claim_token) == (StepStatus.SUCCEEDED, 1, None)
    assert step.started_at is not None and step.finished_at >= step.started_at
    assert run.messages.filter(sender="a1").count() == 1


def test_slow_or_remote_agents_are_claimed_under_a_lease_first(alice, make_agent, make_swarm):
    slow = make_agent("slow", config={"replies": ["zzz"], "delay_ms": 1})
    run = services.start_run(swarm=make_swarm(agents=[slow], strategy_config={"max_turns": 1}), task="x", user=alice)
    services.begin_run(run.pk)
    step = Step.objects.get(run=run)
    claim = services.claim_step(step)
    assert claim is not None and claim.step.status == StepStatus.RUNNING
    assert services.execute_step(step.pk) is False  # already claimed: a duplicate does nothing
    assert services.complete_step(claim.step, claim.token, StepResult(StepOutcome.SUCCESS, content="zzz")) is True


def test_runs_of_one_config_share_a_strategy_built_once_where_the_database_can_recognise_the_config(
    alice, make_agent, make_swarm, monkeypatch
):
    from django.db import connection

    from apps.engine.strategies import registry

    used: dict[int, set[int]] = {}  # run -> ids of the strategy instances its transitions used
    strategy_of = services._strategy

    def noting(run):
        strategy = strategy_of(run)
        used.setdefault(run.pk, set()).add(id(strategy))
        return strategy

    monkeypatch.setattr(services, "_strategy", noting)
    monkeypatch.setattr(services, "_STRATEGY_CACHE", type(services._STRATEGY_CACHE)())
    agents = [make_agent("a1"), make_agent("a2")]
    swarm = make_swarm(strategy_config={"max_turns": 2}, agents=agents)
    first = drive(services.start_run(swarm=swarm, task="x", user=alice))
    second = drive(services.start_run(swarm=swarm, task="y", user=alice))
    other_swarm = make_swarm(name="other", strategy_config={"max_turns": 1}, agents=agents)
    other = drive(services.start_run(swarm=other_swarm, task="z", user=alice))
    assert first.status == second.status == other.status == RunStatus.SUCCEEDED
    assert all(len(ids) == 1 for ids in used.values())  # one instance per run, whatever else
    shared = connection.vendor == "postgresql"  # the config's digest comes from the database
    assert (used[first.pk] == used[second.pk]) is shared
    assert used[other.pk] != used[first.pk]  # another config: its own strategy

    # a strategy that reads more than its config when built (a trained policy) is built per run
    assert registry.config_only("chat_room") and registry.config_only("heist")
    assert not registry.config_only("puppeteer") and not registry.config_only("orc")
