"""Swarms of swarms: a member that is a swarm runs as a child run."""

import pytest

from apps.core.errors import FieldsError
from apps.runs import services
from apps.runs.models import Run, RunStatus, StepStatus
from apps.swarms.services import create_swarm, update_swarm
from tests.conftest import drive, wait_for_run


def drive_all(run: Run) -> Run:
    """Drive a run and every child run it starts, in-process, with the follow-ups Celery would do."""
    for _ in range(20):
        drive(run)
        children = Run.objects.filter(parent_step__run=run)
        for child in children:
            if child.is_active:
                drive_all(child)
            services.child_run_finished(child.pk)
        run.refresh_from_db()
        if not run.is_active:
            return run
    return run


@pytest.fixture
def research(alice, make_agent):
    calc = make_agent("calc", provider="skill", config={"skill": "calculator"})
    report = make_agent("report", provider="skill", config={"skill": "echo", "template": "inner({{ input }})"})
    return create_swarm(owner=alice, name="Research team", strategy="sequential", members=[calc, report])


@pytest.mark.django_db
def test_a_swarm_member_runs_as_a_child_run_and_its_result_returns(alice, research, make_agent):
    editor = make_agent("editor", provider="skill", config={"skill": "echo", "template": "outer({{ input }})"})
    outer = create_swarm(owner=alice, name="Newsroom", strategy="sequential", members=["swarm:Research team", editor])
    assert outer.member_names() == ["research-team", "editor"]
    run = drive_all(services.start_run(swarm=outer, task="6 * 7", user=alice))
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.result == "outer(inner(42))"
    child = Run.objects.get(parent_step__run=run)
    assert (child.depth, child.swarm_id, child.task, child.result) == (1, research.pk, "6 * 7", "inner(42)")
    assert run.steps.get(agent_name="research-team").data == {"child_run": child.pk}


@pytest.mark.django_db
def test_ending_the_parent_cancels_its_children(alice, make_agent):
    asker = make_agent("asker", provider="scripted", config={"replies": ["?"]})
    create_swarm(
        owner=alice,
        name="Waits",
        strategy="sequential",
        strategy_config={"stages": [{"ask_human": {"prompt": "Continue?"}}]},
        members=[asker],
    )
    outer = create_swarm(owner=alice, name="Outer", strategy="sequential", members=["swarm:Waits"])
    run = services.start_run(swarm=outer, task="go", user=alice)
    drive(run)
    child = Run.objects.get(parent_step__run=run)
    drive(child)
    assert Run.objects.get(pk=child.pk).status == RunStatus.WAITING_INPUT
    services.cancel_run(run_id=run.pk, user=alice)
    assert services.cancel_child_runs(run.pk) == 1
    child.refresh_from_db()
    assert child.status == RunStatus.CANCELLED and "parent run" in child.error
    assert run.steps.get().status == StepStatus.CANCELLED


@pytest.mark.django_db
def test_nesting_is_limited_and_a_swarm_cannot_contain_itself(alice, research, settings):
    outer = create_swarm(owner=alice, name="Outer", strategy="sequential", members=["swarm:Research team"])
    with pytest.raises(FieldsError, match="cannot contain itself"):
        update_swarm(research, members=["swarm:Outer", "calc"])
    settings.SWARMWEB = {**settings.SWARMWEB, "MAX_RUN_NESTING": 0}
    run = drive_all(services.start_run(swarm=outer, task="1 + 1", user=alice))
    assert run.status == RunStatus.FAILED and "nest at most 0 deep" in run.error


@pytest.mark.worker
def test_swarms_of_swarms_through_a_real_worker(alice, research, make_agent, celery_worker):
    editor = make_agent("editor", provider="skill", config={"skill": "echo", "template": "outer({{ input }})"})
    outer = create_swarm(owner=alice, name="Newsroom", strategy="sequential", members=["swarm:Research team", editor])
    run = wait_for_run(services.start_run(swarm=outer, task="6 * 7", user=alice))
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.result == "outer(inner(42))"
