"""Dashboard pages. Each view: fetch with an access check, call one service, render."""

from __future__ import annotations

import json
from collections.abc import Sequence

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from apps.agents.consumers import agent_forest
from apps.agents.models import Agent, AgentStatus
from apps.core.db import consistent_reads
from apps.core.errors import Conflict, FieldsError
from apps.engine.definitions import DefinitionError
from apps.engine.governance import GovernanceError
from apps.engine.strategies import StrategyName
from apps.engine.strategies.forge import draft_diff
from apps.engine.strategies.heist import NodeStatus, dag_snapshot
from apps.engine.strategies.snapshots import strategy_snapshot
from apps.runs import services as run_services
from apps.runs.access import visible_runs
from apps.runs.models import HumanRequest
from apps.runs.presenters import (
    human_request_data,
    member_activity,
    message_data,
    run_data,
    run_drawing,
    step_data,
    workflow_positions,
)
from apps.swarms import definitions
from apps.swarms.access import visible_swarms
from apps.swarms.models import Strategy, Swarm
from apps.swarms.services import create_swarm, update_swarm

from .forms import ImportDefinitionForm, StartRunForm, SwarmForm


def _swarms(user):
    return visible_swarms(user).annotate(member_count=Count("members"))


@login_required
@require_http_methods(["GET", "POST"])
def swarm_list(request: HttpRequest) -> HttpResponse:
    """Swarms, and the form to import a YAML definition (problems listed beside it; nothing written)."""
    form = ImportDefinitionForm(request.POST or None, request.FILES or None)
    problems: list[str] = []
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            if upload.size > definitions.MAX_BYTES:
                raise FieldsError("Too large.", fields={"file": [f"At most {definitions.MAX_BYTES} bytes."]})
            text = upload.read().decode("utf-8", errors="replace")
            swarm = definitions.import_definition(request.user, {definitions.MAIN_FILE: text})
        except DefinitionError as exc:
            problems = [str(p) for p in exc.problems]
        except (FieldsError, GovernanceError) as exc:
            problems = [str(exc)]
        else:
            messages.success(request, f"Imported {swarm.name!r}.")
            return redirect("dashboard:swarm-detail", pk=swarm.pk)
    status = 400 if (problems or form.errors) else 200
    context = {"swarms": _swarms(request.user), "import_form": form, "import_problems": problems}
    return render(request, "dashboard/swarm_list.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def swarm_new(request: HttpRequest) -> HttpResponse:
    """Compose a swarm: problems (a bad config key, a board member below level 0...) show beside their fields."""
    form = SwarmForm(request.POST or None, offered=_offered_members(request.user))
    if request.method == "POST" and form.is_valid():
        try:
            swarm = create_swarm(owner=request.user, **form.cleaned_data)
        except FieldsError as exc:
            _show_errors(form, exc)
        else:
            messages.success(request, f"Created {swarm.name!r}.")
            return redirect("dashboard:swarm-detail", pk=swarm.pk)
    page = {"title": "New swarm", "submit_label": "Create swarm", "action": reverse("dashboard:swarm-new-json")}
    return _composer(request, form, page)


@login_required
@require_http_methods(["GET", "POST"])
def swarm_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Change a swarm in the same composer. All or nothing: a rejected change writes nothing, and runs
    already started keep the strategy, config and members they snapshotted."""
    swarm = get_object_or_404(_swarms(request.user), pk=pk)
    current = swarm.member_objects()
    page = {
        "title": f"Edit {swarm.name}",
        "submit_label": "Save changes",
        "action": reverse("dashboard:swarm-edit", args=[swarm.pk]),
        "cancel_url": reverse("dashboard:swarm-detail", args=[swarm.pk]),
    }
    form = SwarmForm(
        request.POST or None,
        initial=SwarmForm.initial_for(swarm, current),
        offered=_offered_members(swarm.owner, current=current, excluding=swarm),
    )
    if request.method == "POST" and form.is_valid():
        try:
            update_swarm(swarm, **form.cleaned_data)
        except FieldsError as exc:
            _show_errors(form, exc)
        else:
            messages.success(request, f"Saved {swarm.name!r}.")
            return redirect("dashboard:swarm-detail", pk=swarm.pk)
    return _composer(request, form, page)


def _offered_members(
    owner, *, current: Sequence[Agent | Swarm] = (), excluding: Swarm | None = None
) -> list[Agent | Swarm]:
    """What a swarm of ``owner`` may have as members: its current ones first, in order (even terminated
    agents, so an unchanged form saves unchanged), then the owner's other active agents and swarms."""
    agents = Agent.objects.filter(owner=owner, status=AgentStatus.ACTIVE).order_by("level", "name")
    swarms = Swarm.objects.filter(owner=owner).order_by("name")
    if excluding is not None:
        swarms = swarms.exclude(pk=excluding.pk)
    return [*current, *[m for m in [*agents, *swarms] if m not in current]]


def _show_errors(form: SwarmForm, exc: FieldsError) -> None:
    """A service's problems beside the fields they concern; config problems keep their key path."""
    for field, errors in (exc.fields or {"": [exc.message]}).items():
        target = field.split(".")[0] if field.split(".")[0] in form.fields else None
        for error in errors:
            form.add_error(target, f"{field}: {error}" if target == "strategy_config" else error)


def _composer(request: HttpRequest, form: SwarmForm, page: dict[str, str]) -> HttpResponse:
    descriptions = {value: Strategy(value).description for value, _ in Strategy.choices}
    context = {"form": form, "descriptions": descriptions, **page}
    return render(request, "dashboard/swarm_form.html", context, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def swarm_detail(request: HttpRequest, pk: int) -> HttpResponse:
    swarm = get_object_or_404(_swarms(request.user), pk=pk)
    form = StartRunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            run = run_services.start_run(swarm=swarm, user=request.user, **form.cleaned_data)
        except FieldsError as exc:
            for field, errors in exc.fields.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            return redirect("dashboard:run-detail", pk=run.pk)
    form.mark_errors()
    context = {
        "swarm": swarm,
        "members": swarm.members.select_related("agent", "child_swarm"),
        "strategy_description": Strategy(swarm.strategy).description,
        "strategy_config_json": json.dumps(swarm.strategy_config, indent=2),
        "form": form,
        "budget_fields": [form[name] for name in StartRunForm.BUDGET_FIELDS],
        "runs": visible_runs(request.user).filter(swarm=swarm).select_related("swarm")[:10],
    }
    return render(request, "dashboard/swarm_detail.html", context, status=400 if form.errors else 200)


@login_required
def run_list(request: HttpRequest) -> HttpResponse:
    runs = visible_runs(request.user).select_related("swarm")[:100]
    return render(request, "dashboard/run_list.html", {"runs": runs})


@login_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    with consistent_reads():
        run = get_object_or_404(visible_runs(request.user).select_related("swarm", "parent_step"), pk=pk)
        context = {
            "run": run,
            "seq": run.event_seq,
            "status": run_data(run),
            "chat_messages": [message_data(m, m.room.name) for m in run.messages.select_related("room")],
            "steps": [step_data(s) for s in run.steps.all()],
            "human_requests": [human_request_data(r) for r in run.human_requests.select_related("answered_by")],
            "dag": _latest_progress(run),
            "panel": strategy_snapshot(run.strategy, run.strategy_config, run.member_names(), run.state or {}),
            "child_runs": list(visible_runs(request.user).filter(parent_step__run=run).order_by("pk")),
            "dag_statuses": [s.value for s in NodeStatus],
            "drawing": run_drawing(run),
            "activity": member_activity(run),
            "dag_positions": workflow_positions(run),
        }
    context["ws_path"] = f"/ws/runs/{run.pk}/"
    return render(request, "dashboard/run_detail.html", context)


def _latest_progress(run) -> dict | None:
    """The workflow graph as of this page's snapshot (None for strategies without one)."""
    if run.strategy != StrategyName.HEIST:
        return None
    return dag_snapshot(run.state or {})


@login_required
def run_drafts(request: HttpRequest, pk: int) -> HttpResponse:
    """FORGE: the line diff between any two drafts of a run (``?a=1&b=3``)."""
    run = get_object_or_404(visible_runs(request.user), pk=pk, strategy=StrategyName.FORGE)
    drafts = {d["iteration"]: d["text"] for d in (run.state or {}).get("drafts", [])}
    if not drafts:
        raise Http404("No drafts yet.")
    newest = max(drafts)
    a, b = _int(request.GET.get("a"), newest - 1), _int(request.GET.get("b"), newest)
    if a not in drafts or b not in drafts:
        raise Http404("No such draft.")
    context = {"run": run, "a": a, "b": b, "iterations": sorted(drafts), "diff": draft_diff(drafts[a], drafts[b])}
    return render(request, "dashboard/run_drafts.html", context)


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


@login_required
@require_POST
def run_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(visible_runs(request.user), pk=pk)
    try:
        run_services.cancel_run(run_id=run.pk, user=request.user)
    except Conflict as exc:
        messages.error(request, exc.message)
    if request.htmx:
        return HttpResponse(status=204)
    return redirect("dashboard:run-detail", pk=run.pk)


@login_required
@require_POST
def human_request_answer(request: HttpRequest, pk: int) -> HttpResponse:
    human_request = get_object_or_404(HumanRequest.objects.filter(run__in=visible_runs(request.user)), pk=pk)
    answer = {f["name"]: request.POST.get(f["name"]) for f in human_request.fields}
    try:
        human_request = run_services.answer_human_request(request_id=pk, answer=answer, user=request.user)
    except (FieldsError, Conflict) as exc:
        data = human_request_data(human_request)
        for field in data["fields"]:
            field["value"] = answer.get(field["name"])
            field["errors"] = exc.fields.get(field["name"], [])
        context = {"req": data, "form_error": exc.message}
        if request.htmx:
            return render(request, "runs/_human_request.html", context)
        messages.error(request, str(exc))
        return redirect("dashboard:run-detail", pk=human_request.run_id)
    if request.htmx:
        human_request.refresh_from_db()
        return render(request, "runs/_human_request.html", {"req": human_request_data(human_request)})
    return redirect("dashboard:run-detail", pk=human_request.run_id)


@login_required
def agent_tree(request: HttpRequest) -> HttpResponse:
    """Your agent hierarchies, kept live over a websocket as agents are spawned or terminated."""
    roots = agent_forest(request.user)
    return render(request, "dashboard/agent_tree.html", {"roots": roots})


@login_required
def swarm_export(request: HttpRequest, pk: int) -> HttpResponse:
    swarm = get_object_or_404(_swarms(request.user), pk=pk)
    response = HttpResponse(definitions.export_definition(swarm), content_type="application/yaml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="swarm-{swarm.pk}.yaml"'
    return response
