"""The swarm designer: a canvas page that edits a swarm through the REST API.

These views only gather what the page needs to draw (the strategy catalogue with each config's JSON
Schema, the owner's agents and swarms for the palette, the swarm being edited); every check and every
save goes through the API (``/api/swarms/validate/``, ``/api/swarms/``), which calls the swarm services.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from apps.agents.models import Agent, AgentStatus
from apps.engine.strategies.registry import strategy_catalogue
from apps.learning.models import TrainingRun
from apps.swarms.access import visible_swarms
from apps.swarms.models import Swarm


def _catalogue() -> list[dict[str, Any]]:
    return [
        {
            "name": info.name,
            "label": info.label,
            "description": info.description,
            "roles": list(info.roles),
            "config_schema": info.config_schema,
        }
        for info in strategy_catalogue()
    ]


def _palette(owner, *, excluding: Swarm | None = None) -> list[dict[str, Any]]:
    """What the owner may drag onto the canvas: ``ref`` is what the API's ``members`` takes, ``name``
    what a strategy's config calls the member."""
    items: list[dict[str, Any]] = []
    for agent in Agent.objects.filter(owner=owner, status=AgentStatus.ACTIVE).order_by("level", "name"):
        label = f"level {agent.level} · {agent.provider}"
        items.append({"kind": "agent", "ref": agent.name, "name": agent.name, "label": label, "level": agent.level})
    swarms = Swarm.objects.filter(owner=owner).order_by("name")
    if excluding is not None:
        swarms = swarms.exclude(pk=excluding.pk)
    for swarm in swarms:
        label = f"swarm · {swarm.strategy}"
        items.append({"kind": "swarm", "ref": f"swarm:{swarm.pk}", "name": swarm.member_name, "label": label})
    return items


def _members(swarm: Swarm) -> list[dict[str, Any]]:
    members = []
    for member in swarm.members.select_related("agent", "child_swarm"):
        if member.agent is not None:
            members.append({"kind": "agent", "ref": member.agent.name, "name": member.name})
        else:
            members.append({"kind": "swarm", "ref": f"swarm:{member.child_swarm_id}", "name": member.name})
    return members


def _training_runs(owner) -> list[dict[str, Any]]:
    runs = TrainingRun.objects.filter(owner=owner).order_by("-pk")[:100]
    return [{"id": run.pk, "label": f"#{run.pk} {run.name} ({run.status})"} for run in runs]


def _designer(request: HttpRequest, swarm: Swarm | None) -> HttpResponse:
    owner = swarm.owner if swarm is not None else request.user
    data = {
        "catalogue": _catalogue(),
        "palette": _palette(owner, excluding=swarm),
        "trainingRuns": _training_runs(owner),
        "swarm": None,
        "urls": {
            "validate": "/api/swarms/validate/",
            "swarms": "/api/swarms/",
            "runs": "/api/runs/",
            "design": reverse("dashboard:swarm-design", args=[0]).replace("/0/", "/{id}/"),
            "run": reverse("dashboard:run-detail", args=[0]).replace("/0/", "/{id}/"),
        },
    }
    if swarm is not None:
        data["swarm"] = {
            "id": swarm.pk,
            "name": swarm.name,
            "description": swarm.description,
            "strategy": swarm.strategy,
            "strategy_config": swarm.strategy_config,
            "members": _members(swarm),
            "layout": getattr(swarm, "layout", None) or {},
            "version": getattr(swarm, "version", None),
        }
    context = {
        "swarm": swarm,
        "designer_data": data,
        # The pattern gallery comes from its own template tag library; until it exists the page goes without.
        "has_gallery": swarm is None and importlib.util.find_spec("apps.dashboard.templatetags.patterns") is not None,
    }
    return render(request, "dashboard/designer/designer.html", context)


@login_required
def swarm_design_new(request: HttpRequest) -> HttpResponse:
    """Design a new swarm on the canvas (saved through ``POST /api/swarms/``)."""
    return _designer(request, None)


@login_required
def swarm_design(request: HttpRequest, pk: int) -> HttpResponse:
    """Design an existing swarm (saved through ``PATCH /api/swarms/<id>/`` with its version)."""
    swarm = get_object_or_404(visible_swarms(request.user), pk=pk)
    return _designer(request, swarm)
