"""Tools made by agents: validate, register (versioned), approve or reject, call in the sandbox.

``propose_tool`` registers nothing unless everything holds: the name is free
(not a built-in), the parameters are a valid JSON Schema describing an
object, the source parses and defines a top-level function of that name
whose parameters match the schema, the example arguments satisfy the schema,
and a smoke call with them succeeds in the sandbox and returns JSON. Each
problem is reported; the agent gets them back as its tool result.

A registered tool is a new version of its name. When approval is required
(``SWARMWEB["MADE_TOOLS_NEED_APPROVAL"]``), it stays pending until a person
approves it (the human request in the run that made it, the Tools page, or
the admin); until then agents keep using the previous approved version, if
any.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import jsonschema
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from apps.core.errors import Conflict
from apps.engine.sandbox import check_function_source, run_function
from apps.engine.tools import ToolResult

from .models import MadeTool, MadeToolStatus
from .registry import builtin_tools

logger = logging.getLogger(__name__)

MAX_SOURCE_CHARS = 20_000


class ToolRejected(Exception):
    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def _limits() -> dict[str, Any]:
    config = settings.SWARMWEB
    return {"timeout_s": float(config["MADE_TOOL_TIMEOUT_SECONDS"]), "memory_mb": int(config["MADE_TOOL_MEMORY_MB"])}


def check_proposal(*, name: str, description: str, parameters: Any, source: str, example: Any) -> list[str]:
    """Every static problem of a proposal (no code is run)."""
    problems: list[str] = []
    if name in builtin_tools():
        problems.append(f"name: {name!r} is a built-in tool")
    if not description.strip():
        problems.append("description: say what the tool does")
    if len(source) > MAX_SOURCE_CHARS:
        problems.append(f"source: at most {MAX_SOURCE_CHARS} characters")
    schema_ok = False
    if not isinstance(parameters, dict) or parameters.get("type") != "object":
        problems.append('parameters: must be a JSON Schema with "type": "object"')
    else:
        try:
            jsonschema.Draft202012Validator.check_schema(parameters)
            schema_ok = True
        except jsonschema.SchemaError as exc:
            problems.append(f"parameters: not a valid JSON Schema ({exc.message})")
    if schema_ok:
        problems.extend(f"source: {p}" for p in check_function_source(source, name, parameters))
        if not isinstance(example, dict):
            problems.append("example: must be an object of arguments")
        else:
            errors = sorted(jsonschema.Draft202012Validator(parameters).iter_errors(example), key=str)
            problems.extend(f"example: {e.message}" for e in errors)
    return problems


def propose_tool(
    *,
    owner,
    name: str,
    description: str,
    parameters: Any,
    source: str,
    example: Any,
    made_by=None,
    run=None,
) -> MadeTool:
    """Validate, smoke-call and register a tool version; raise ``ToolRejected`` with every reason."""
    problems = check_proposal(name=name, description=description, parameters=parameters, source=source, example=example)
    if problems:
        raise ToolRejected(problems)
    smoke = run_function(source, name, example, **_limits())
    if not smoke.ok:
        raise ToolRejected([f"smoke call: {_failure(smoke)}"])
    needs_approval = bool(settings.SWARMWEB["MADE_TOOLS_NEED_APPROVAL"])
    for _attempt in range(3):
        try:
            with transaction.atomic():
                latest = MadeTool.objects.filter(owner=owner, name=name).aggregate(v=Max("version"))["v"] or 0
                tool = MadeTool.objects.create(
                    owner=owner,
                    name=name,
                    version=latest + 1,
                    description=description.strip(),
                    parameters=parameters,
                    source=source,
                    example=example,
                    smoke_result=json.dumps(smoke.value)[:2000],
                    status=MadeToolStatus.PENDING if needs_approval else MadeToolStatus.APPROVED,
                    made_by=made_by,
                    made_in_run=run,
                )
                if needs_approval and run is not None:
                    _ask_for_approval(tool, run)
            return tool
        except IntegrityError:  # another proposal took this version number; take the next
            continue
    raise Conflict(f"Could not register {name!r}: too many concurrent versions.")


def _ask_for_approval(tool: MadeTool, run) -> None:
    from apps.runs.services import ask_human_for_tool_approval

    ask_human_for_tool_approval(run.pk, tool)


def review_tool(tool: MadeTool, *, approve: bool, user, note: str = "") -> MadeTool:
    """Approve or reject a pending tool version (once)."""
    status = MadeToolStatus.APPROVED if approve else MadeToolStatus.REJECTED
    updated = MadeTool.objects.filter(pk=tool.pk, status=MadeToolStatus.PENDING).update(
        status=status, reviewed_by=user, reviewed_at=timezone.now(), review_note=note
    )
    if not updated:
        raise Conflict(f"{tool} has already been reviewed.")
    tool.refresh_from_db()
    return tool


def usable_tools(owner, names: set[str] | None = None) -> dict[str, MadeTool]:
    """The newest approved version of each made tool of ``owner`` (optionally only ``names``)."""
    approved = MadeTool.objects.filter(owner=owner, status=MadeToolStatus.APPROVED)
    if names is not None:
        approved = approved.filter(name__in=names)
    newest: dict[str, MadeTool] = {}
    for tool in approved.order_by("name", "-version"):
        newest.setdefault(tool.name, tool)
    return newest


def pending_version(owner, name: str) -> MadeTool | None:
    return MadeTool.objects.filter(owner=owner, name=name, status=MadeToolStatus.PENDING).order_by("-version").first()


def _failure(outcome) -> str:
    return f"{outcome.error_type}: {outcome.error}" if outcome.error_type else outcome.error


def call_made_tool(tool: MadeTool, arguments: Mapping[str, Any]) -> ToolResult:
    """Run one call of a made tool in the sandbox."""
    outcome = run_function(tool.source, tool.name, dict(arguments), **_limits())
    if not outcome.ok:
        return ToolResult(False, _failure(outcome), error_code=f"tool_{outcome.failure.value}")
    value = outcome.value
    content = value if isinstance(value, str) else json.dumps(value)
    return ToolResult(True, content, data={"value": value, "version": tool.version})
