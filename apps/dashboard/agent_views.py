"""Agent pages: the hierarchy canvas, and the side-panel forms that create, edit, grant, revoke and terminate.

Every view renders the full page, or just the side panel's content for htmx (``request.htmx``), so the
forms work without JavaScript. Every change goes through the agent and governance services; a
refusal by the rules is shown beside the field it concerns (with the rule's code) and, for the
canvas, sent as an ``agent-refused`` event (HX-Trigger) naming the agent and the rule.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apps.agents.catalogue import privilege_catalogue
from apps.agents.checks import check_privileges_change
from apps.agents.consumers import agent_forest, agent_graph
from apps.agents.governance import (
    Acting,
    grant_privilege,
    grantable_privileges,
    revoke_privilege,
    set_privileges,
    terminate_agent,
    terminate_preview,
)
from apps.agents.models import Agent, AgentStatus, AuditEntry
from apps.agents.services import create_agent, update_agent
from apps.core.errors import FieldsError
from apps.engine import templating
from apps.engine.errors import TemplateError
from apps.engine.governance import GovernanceError, Rule
from apps.engine.providers import required_privileges

from .agent_forms import (
    AgentForm,
    NewAgentForm,
    PrivilegesForm,
    TerminateForm,
    provider_catalogue_data,
)

TEMPLATE_VARIABLES = {
    "name": "its name",
    "description": "its description",
    "level": "its level (0 is the board)",
    "parent": "its parent's name (none for a root)",
    "privileges": "the privileges it holds (a list)",
    "tools": "the tools listed for it (a list)",
    "rooms": "its rooms (a list)",
    "talks_to": "the agents it talks to (a list of names)",
}

# Where a refusal shows in the form: the rule's field.
RULE_FIELDS = {
    Rule.LEVEL_SKIP: "level",
    Rule.MAX_DEPTH: "level",
    Rule.AGENT_TERMINATED: "parent",
    Rule.NOT_A_DESCENDANT: "parent",
}


def _agents(user):
    return Agent.objects.filter(owner=user)


@login_required
def agent_page(request: HttpRequest) -> HttpResponse:
    """The hierarchy drawn as a canvas, with the side panel, and the same trees as a list below."""
    context = {"roots": agent_forest(request.user), "graph": agent_graph(request.user)}
    return render(request, "dashboard/agent_tree.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def agent_new(request: HttpRequest) -> HttpResponse:
    """Create an agent: a root, or a child of ``?parent=<id>`` (one level down by default)."""
    privileges = privilege_catalogue(request.user)
    form = NewAgentForm(request.POST or None, owner=request.user, privileges=privileges, initial=_new_initial(request))
    refusal = None
    if request.method == "POST" and form.is_valid() and "_preview" not in request.POST:
        data = form.cleaned_data
        wanted = set(data["privileges"]) | required_privileges(data["provider"], data["config"])
        try:
            agent = create_agent(owner=request.user, **{**data, "privileges": sorted(wanted)})
        except FieldsError as exc:
            _show_errors(form, exc)
        except GovernanceError as exc:
            refusal = _refused(form, exc, provider_needs=required_privileges(data["provider"], data["config"]))
        else:
            return _saved(request, agent, f"Created {agent.name}.")
    parent = _initial_parent(request, form)
    grantable = grantable_privileges(Acting(user=request.user), request.user, privileges, parent=parent)
    context = {
        "form": form,
        "parent": parent,
        "grantable": grantable,
        "privilege_rows": _privilege_rows(form, privileges, grantable),
        "preview": _preview(form, parent=parent),
    }
    return _panel(request, "dashboard/agents/_new.html", context, refusal=refusal, refused_agent=parent)


@login_required
@require_http_methods(["GET", "POST"])
def agent_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """An agent's definition (provider, settings, instructions, tools, memory, talks-to, rooms) and,
    beside it, its privileges and the way to terminate it."""
    agent = get_object_or_404(_agents(request.user).select_related("parent"), pk=pk)
    form = AgentForm(request.POST or None, owner=request.user, instance=agent, initial=AgentForm.initial_for(agent))
    refusal = None
    if request.method == "POST" and form.is_valid() and "_preview" not in request.POST:
        try:
            update_agent(agent, acting_user=request.user, **form.cleaned_data)
        except FieldsError as exc:
            _show_errors(form, exc)
        except GovernanceError as exc:
            refusal = _refused(form, exc, provider_needs={exc.privilege})
        else:
            return _saved(request, agent, f"Saved {agent.name}.")
        agent.refresh_from_db()
    return _panel(request, "dashboard/agents/_edit.html", _edit_context(request, agent, form), refusal=refusal)


@login_required
@require_POST
def agent_privileges(request: HttpRequest, pk: int) -> HttpResponse:
    """Grant what was ticked and revoke what was unticked; all of it, or (refused) none of it."""
    agent = get_object_or_404(_agents(request.user), pk=pk)
    acting = Acting(user=request.user)
    catalogue = privilege_catalogue(request.user)
    form = PrivilegesForm(request.POST, privileges=catalogue)
    refusal = None
    if form.is_valid():
        wanted = set(form.cleaned_data["privileges"])
        granted, revoked = sorted(wanted - set(agent.privileges)), sorted(set(agent.privileges) - wanted)
        try:
            _refuse_as_the_service_would(acting, agent, wanted)
            set_privileges(acting, agent, wanted)
        except GovernanceError as exc:
            refusal = _refused(form, exc, provider_needs=set())
        else:
            return _saved(request, agent, _privileges_message(agent, granted, revoked))
    agent.refresh_from_db()
    context = _edit_context(
        request, agent, AgentForm(owner=request.user, instance=agent, initial=AgentForm.initial_for(agent))
    )
    context["privileges_form"] = form
    context["privilege_rows"] = _privilege_rows(form, catalogue, context["grantable"])
    return _panel(request, "dashboard/agents/_edit.html", context, refusal=refusal)


@login_required
@require_http_methods(["GET", "POST"])
def agent_terminate(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: which agents terminating this one takes with it. POST: terminate them."""
    agent = get_object_or_404(_agents(request.user), pk=pk, status=AgentStatus.ACTIVE)
    acting = Acting(user=request.user)
    form = TerminateForm(request.POST or None)
    refusal = None
    if request.method == "POST" and form.is_valid():
        try:
            ids = terminate_agent(acting, agent, reason=form.cleaned_data["reason"])
        except GovernanceError as exc:
            refusal = exc
        else:
            notice = f"Terminated {agent.name} and {len(ids) - 1} agent(s) below it."
            if not request.htmx:
                messages.success(request, notice)
                return redirect("dashboard:agent-tree")
            response = render(request, "dashboard/agents/_terminated.html", {"agent": agent, "notice": notice})
            return _with_trigger(response, "agent-saved", {"agent": agent.pk})
    context = {"agent": agent, "form": form, "preview": terminate_preview(acting, agent), "refusal": refusal}
    return _panel(request, "dashboard/agents/_terminate.html", context, refusal=refusal, refused_agent=agent)


# ---- helpers ---------------------------------------------------------------------------------


CARRIED = ("name", "description", "provider", "config", "instructions", "memory_top_k", "memory_scope", "rooms")
CARRIED_LISTS = ("tools", "talks_to", "privileges")


def _new_initial(request: HttpRequest) -> dict[str, Any]:
    parent = _agents(request.user).filter(pk=_int(request.GET.get("parent")), status=AgentStatus.ACTIVE).first()
    initial: dict[str, Any] = {"provider": "scripted", "config": {"replies": ["Hello."]}, "memory_top_k": 0}
    # The form re-asked for with another parent keeps what was typed (the level follows the parent).
    initial.update({k: request.GET[k] for k in CARRIED if request.GET.get(k)})
    initial.update({k: request.GET.getlist(k) for k in CARRIED_LISTS if k in request.GET})
    if parent is not None:
        initial.update(parent=str(parent.pk), level=parent.level + 1)
    elif (level := _int(request.GET.get("level"))) is not None:
        initial["level"] = level
    return initial


def _initial_parent(request: HttpRequest, form: NewAgentForm) -> Agent | None:
    pk = form.data.get("parent") if form.is_bound else form.initial.get("parent")
    return _agents(request.user).filter(pk=_int(pk), status=AgentStatus.ACTIVE).first()


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _edit_context(request: HttpRequest, agent: Agent, form: AgentForm) -> dict[str, Any]:
    catalogue = privilege_catalogue(request.user)
    grantable = grantable_privileges(Acting(user=request.user), request.user, catalogue, target=agent)
    privileges_form = PrivilegesForm(initial={"privileges": list(agent.privileges)}, privileges=catalogue)
    return {
        "agent": agent,
        "form": form,
        "grantable": grantable,
        "privileges_form": privileges_form,
        "privilege_rows": _privilege_rows(privileges_form, catalogue, grantable),
        "preview": _preview(form, parent=agent.parent, agent=agent),
        "children": agent.children.filter(status=AgentStatus.ACTIVE).order_by("name"),
        "audit": AuditEntry.objects.filter(owner=request.user, target=agent)[:8],
    }


def _privilege_rows(form, catalogue: dict[str, str], grantable: list[str]) -> list[dict[str, Any]]:
    """The privileges checklist: what may be given is offered; what may not is shown, disabled,
    unless it is ticked already (a held privilege, or one just refused) so unticking still works."""
    if form.is_bound:
        ticked = set(form.data.getlist("privileges"))
    else:
        ticked = set(form.initial.get("privileges") or form["privileges"].initial or [])
    offered = set(grantable)
    return [
        {"name": name, "description": description, "ticked": name in ticked, "offered": name in offered}
        for name, description in catalogue.items()
        if name in offered or name in ticked
    ]


def _preview(form: AgentForm, *, parent: Agent | None, agent: Agent | None = None) -> dict[str, str]:
    """The instructions rendered with what the agent's template can use (as in the form now)."""
    data = form.data if form.is_bound else None
    source = data.get("instructions", "") if data is not None else form.initial.get("instructions", "")
    source = source.replace("\r\n", "\n")
    if data is not None:
        level = _int(data.get("level"))
        fields = {
            "name": data.get("name", ""),
            "description": data.get("description", ""),
            "level": level if level is not None else (parent.level + 1 if parent else (agent.level if agent else 1)),
            "parent": parent.name if parent else None,
            "privileges": sorted(set(data.getlist("privileges")) or (agent.privileges if agent else [])),
            "tools": data.getlist("tools"),
            "rooms": [r for r in data.get("rooms", "").replace(",", " ").split() if r],
            "talks_to": [
                a.name for a in Agent.objects.filter(pk__in=[p for p in data.getlist("talks_to") if p.isdigit()])
            ],
        }
    elif agent is not None:
        fields = agent.template_fields()
    else:
        fields = {
            **dict.fromkeys(TEMPLATE_VARIABLES, ""),
            "level": parent.level + 1 if parent else 1,
            "parent": parent.name if parent else None,
        }
        fields.update(privileges=[], tools=[], rooms=[], talks_to=[])
    if not source.strip():
        return {"text": "", "error": ""}
    try:
        return {"text": templating.render(source, fields), "error": ""}
    except TemplateError as exc:
        return {"text": "", "error": exc.message}


def _show_errors(form, exc: FieldsError) -> None:
    """A service's problems beside their fields (``config.model`` beside the provider settings)."""
    for key, errors in (exc.fields or {"": [exc.message]}).items():
        field = key.split(".")[0]
        if field == "config" and "." in key and hasattr(form, "config_errors"):
            form.config_errors[key.partition(".")[2]] = list(errors)
        for error in errors:
            if field in form.fields:
                form.add_error(field, f"{key.partition('.')[2]}: {error}" if "." in key else error)
            else:
                form.add_error(None, error)


def _refused(form, exc: GovernanceError, *, provider_needs: set[str]) -> GovernanceError:
    """Put the rule that refused the change beside its field, as ``rule: message``."""
    message = f"{exc.rule.value}: {exc.message}"
    field = RULE_FIELDS.get(exc.rule, "privileges")
    if field in form.fields:
        form.add_error(field, message)
    if exc.privilege and exc.privilege in provider_needs and "config" in form.fields:
        form.add_error("config", f"{exc.rule.value}: these settings need {exc.privilege!r}. {exc.message}")
    if not any(f in form.fields for f in (field, "config")):
        form.add_error(None, message)
    return exc


def _refuse_as_the_service_would(acting: Acting, agent: Agent, wanted: set[str]) -> None:
    """``set_privileges`` grants and revokes one at a time; asked first, the rules say whether a step
    would be refused, and then only that step is tried, so the service refuses (and audits) it and
    nothing of the change is half applied."""
    try:
        check_privileges_change(acting, agent, provider=agent.provider, config=agent.config, privileges=wanted)
    except GovernanceError as exc:
        privilege = exc.privilege or min(wanted - set(agent.privileges), default="")
        (revoke_privilege if privilege in agent.privileges else grant_privilege)(acting, agent, privilege)
        raise  # the rules changed between the two asks: refuse all the same


def _privileges_message(agent: Agent, granted: list[str], revoked: list[str]) -> str:
    parts = [f"granted {', '.join(granted)}" if granted else "", f"revoked {', '.join(revoked)}" if revoked else ""]
    return f"{agent.name}: {'; '.join(p for p in parts if p) or 'no change'}."


def _saved(request: HttpRequest, agent: Agent, message: str) -> HttpResponse:
    """After a change: the agent's panel (htmx, with an ``agent-saved`` event) or its page."""
    if not request.htmx:
        messages.success(request, message)
        return redirect("dashboard:agent-edit", pk=agent.pk)
    agent = Agent.objects.select_related("parent").get(pk=agent.pk)
    form = AgentForm(owner=request.user, instance=agent, initial=AgentForm.initial_for(agent))
    context = {**_edit_context(request, agent, form), "notice": message}
    response = _panel(request, "dashboard/agents/_edit.html", context)
    return _with_trigger(response, "agent-saved", {"agent": agent.pk})


def _panel(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    refusal: GovernanceError | None = None,
    refused_agent: Agent | None = None,
) -> HttpResponse:
    """The side panel's content (htmx) or the page around it. Invalid input answers 400 to a plain
    POST; htmx gets 200 so it swaps the form with its messages in."""
    form = context.get("form")
    invalid = refusal is not None or bool(form is not None and form.is_bound and form.errors)
    context.update(
        refusal=refusal,
        template_variables=TEMPLATE_VARIABLES,
        providers=provider_catalogue_data(),
        panel_template=template,
    )
    page = template if request.htmx else "dashboard/agents/agent_page.html"
    response = render(request, page, context, status=400 if invalid and not request.htmx else 200)
    if refusal is not None:
        target = context.get("agent") or refused_agent
        detail = {"agent": target.pk if target else None, "rule": refusal.rule.value, "message": refusal.message}
        response = _with_trigger(response, "agent-refused", detail)
    return response


def _with_trigger(response: HttpResponse, event: str, detail: dict[str, Any]) -> HttpResponse:
    response["HX-Trigger"] = json.dumps({event: detail})
    return response
