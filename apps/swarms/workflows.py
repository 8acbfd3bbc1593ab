"""Executing programmatically built workflows: a HEIST swarm made from a ``Workflow``, then a run."""

from __future__ import annotations

from django.db import transaction

from apps.agents.models import Agent
from apps.core.errors import FieldsError
from apps.engine.errors import ErrorCode
from apps.engine.workflow import Workflow
from apps.runs.models import Run
from apps.runs.services import start_run

from .services import create_swarm


def execute_workflow(*, owner, workflow: Workflow, task: str, name: str, description: str = "") -> Run:
    """Create the swarm ``name`` for ``workflow`` (its agents are ``owner``'s, by name) and start a run."""
    wanted = workflow.agents()
    agents = {a.name: a for a in Agent.objects.filter(owner=owner, name__in=wanted)}
    missing = [n for n in wanted if n not in agents]
    if missing:
        raise FieldsError(
            "Unknown agents.",
            fields={"agents": [f"Unknown agent {n!r}." for n in missing]},
            code=ErrorCode.UNKNOWN_AGENT,
        )
    with transaction.atomic():
        swarm = create_swarm(
            owner=owner,
            name=name,
            description=description,
            strategy="heist",
            strategy_config=workflow.config(wanted),
            members=[agents[n] for n in wanted],
        )
        return start_run(swarm=swarm, task=task, user=owner)
