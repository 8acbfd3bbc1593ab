"""Shared personas, factories and the real Celery worker fixture."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest
from hypothesis import settings as hypothesis_settings

from apps.agents.models import Agent
from apps.agents.services import create_agent
from apps.runs import services as run_services
from apps.runs.models import Run, RunStatus, Step, StepStatus
from apps.swarms.services import create_swarm

# Property tests: a quick profile for a developer's loop, the thorough one in CI (CI=true).
hypothesis_settings.register_profile("dev", max_examples=300)
hypothesis_settings.register_profile("ci", max_examples=3000)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user(username="alice", password="wonderland-42")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user(username="bob", password="builder-42")


@pytest.fixture
def make_agent(alice) -> Callable[..., Agent]:
    def make(name: str, provider: str = "scripted", config: dict | None = None, owner=None, **extra) -> Agent:
        config = config if config is not None else {"replies": [f"{name} says hi"]}
        return create_agent(owner=owner or alice, name=name, provider=provider, config=config, **extra)

    return make


@pytest.fixture
def make_swarm(alice, make_agent):
    def make(name: str = "team", strategy: str = "chat_room", agents: list[Agent] | None = None, owner=None, **kw):
        owner = owner or alice
        agents = agents if agents is not None else [make_agent("a1", owner=owner), make_agent("a2", owner=owner)]
        return create_swarm(owner=owner, name=name, strategy=strategy, members=agents, **kw)

    return make


def drive(run: Run, *, max_rounds: int = 500) -> Run:
    """Run a run to rest in-process, without Celery: begin it, then execute
    queued steps one by one until none is left. For service-level tests."""
    run_services.begin_run(run.pk)
    for _ in range(max_rounds):
        step = Step.objects.filter(run=run, status=StepStatus.QUEUED).order_by("index").first()
        if step is None:
            break
        run_services.execute_step(step.pk)
    run.refresh_from_db()
    return run


def wait_for_run(run: Run, *, statuses=None, timeout: float = 30.0) -> Run:
    """Poll the database until the run reaches one of ``statuses`` (default: ended)."""
    wanted = set(statuses or {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.BUDGET_EXHAUSTED})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status in wanted:
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run.pk} still {run.status} after {timeout}s")


@pytest.fixture(scope="session")
def celery_worker_session(django_db_setup, django_db_blocker):
    """A real Celery worker (thread pool) consuming from the test Redis, for the whole session."""
    from celery.contrib.testing.worker import start_worker

    from swarmweb.celery import app

    app.control.purge()
    with start_worker(
        app, pool="threads", concurrency=8, perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30
    ) as worker:
        yield worker


@pytest.fixture
def celery_worker(celery_worker_session, transactional_db):
    return celery_worker_session


@pytest.fixture(autouse=True)
def broker_held_back(request, monkeypatch) -> list[tuple[str, tuple]]:
    """In a test without the worker, tasks are recorded here instead of sent to Redis.

    The session's worker, once a worker test has started it, keeps consuming: a task a
    service test sent would be run by it, racing the test's own ``drive`` (both begin the
    run; the worker's thread then holds the steps ``drive`` looks for), or land on rows of a
    later test. Tests that want tasks run ask for ``celery_worker``."""
    held: list[tuple[str, tuple]] = []
    if "celery_worker_session" in request.fixturenames:
        return held
    from celery.app.task import Task

    def hold(task, args=None, kwargs=None, **options):
        held.append((task.name, tuple(args or ())))

    monkeypatch.setattr(Task, "apply_async", hold)
    return held
