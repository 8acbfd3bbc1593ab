"""Tools that agents call during a run step: the governance tools for now.

``spawn_agent`` creates a child of the calling agent (one level below,
privileges within its own) and adds it to the run; ``terminate_agent``
terminates one of the caller's descendants (and its subtree) and removes
them from the run. Both go through the governance services, so the rules,
the privileges (``spawn``, ``terminate``) and the audit log apply at the
moment of the call; a refusal comes back to the agent as a failed tool
result carrying the rule as its error code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from apps.agents.governance import Acting, check_broadcast, check_direct_message, spawn_agent, terminate_agent
from apps.agents.models import Agent
from apps.core.errors import FieldsError
from apps.engine.errors import EngineError
from apps.engine.governance import GovernanceError
from apps.engine.tools import ToolCall, ToolResult, ToolSpec

from .models import Step


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


_TEXT = {"type": "string"}
TOOL_SPECS = {
    "spawn_agent": ToolSpec(
        "spawn_agent",
        "Create a sub-agent one level below you; it joins this run. Its privileges must be a subset of yours.",
        _object(
            {
                "name": _TEXT,
                "provider": {"type": "string", "enum": ["skill", "scripted", "openai"]},
                "config": {"type": "object"},
                "privileges": {"type": "array", "items": _TEXT},
                "instructions": _TEXT,
                "description": _TEXT,
            },
            ["name", "provider", "config"],
        ),
    ),
    "terminate_agent": ToolSpec(
        "terminate_agent",
        "Terminate one of your descendants and its sub-agents.",
        _object({"name": _TEXT, "reason": _TEXT}, ["name"]),
    ),
    "send_message": ToolSpec(
        "send_message",
        "Send a direct message to an agent on your talks-to list.",
        _object({"to": _TEXT, "content": _TEXT}, ["to", "content"]),
    ),
    "broadcast": ToolSpec(
        "broadcast", "Post to a room you belong to.", _object({"room": _TEXT, "content": _TEXT}, ["room", "content"])
    ),
}
# The privilege that makes each tool worth offering (the call is still checked when it happens).
TOOL_PRIVILEGES = {
    "spawn_agent": "spawn",
    "terminate_agent": "terminate",
    "send_message": "message",
    "broadcast": "broadcast",
}


class RunToolHost:
    """Runs tool calls for one agent during one step of a run, and records them."""

    def __init__(self, step: Step, agent: Agent) -> None:
        self.step = step
        self.agent = agent
        self.run = step.run
        self.calls: list[dict[str, Any]] = []

    def specs(self) -> list[ToolSpec]:
        held = set(self.agent.privileges)
        return [spec for name, spec in TOOL_SPECS.items() if TOOL_PRIVILEGES[name] in held]

    def call(self, call: ToolCall) -> ToolResult:
        handlers: dict[str, Callable[[Mapping[str, Any]], ToolResult]] = {
            "spawn_agent": self._spawn,
            "terminate_agent": self._terminate,
            "send_message": self._send_message,
            "broadcast": self._broadcast,
        }
        started = time.perf_counter()
        handler = handlers.get(call.name)
        if handler is None:
            result = ToolResult(
                False, f"Unknown tool {call.name!r}. Available: {', '.join(handlers)}.", error_code="unknown_tool"
            )
        else:
            try:
                result = handler(call.arguments)
            except GovernanceError as exc:
                result = ToolResult(False, f"Refused ({exc.rule.value}): {exc.message}", error_code=exc.rule.value)
            except (FieldsError, EngineError) as exc:
                result = ToolResult(False, str(exc), error_code=str(exc.code))
        self.calls.append(
            {
                "tool": call.name,
                "arguments": dict(call.arguments),
                "ok": result.ok,
                "content": result.content,
                "error_code": result.error_code,
                "duration_ms": int((time.perf_counter() - started) * 1000),
            }
        )
        return result

    def _acting(self) -> Acting:
        return Acting(user=self.run.owner, agent=self.agent)

    def _spawn(self, args: Mapping[str, Any]) -> ToolResult:
        from .services import change_run_members

        missing = [k for k in ("name", "provider") if not args.get(k)]
        if missing:
            return ToolResult(False, f"Missing arguments: {', '.join(missing)}.", error_code="invalid")
        child = spawn_agent(
            self._acting(),
            owner=self.run.owner,
            parent=self.agent,
            name=str(args["name"]),
            provider=str(args["provider"]),
            config=dict(args.get("config") or {}),
            privileges=args.get("privileges"),
            instructions=str(args.get("instructions") or ""),
            description=str(args.get("description") or ""),
            run=self.run,
        )
        change_run_members(self.run.pk, joined=[child], by=self.agent.name)
        return ToolResult(True, f"Spawned {child.name} (level {child.level}).", data={"agent_id": child.pk})

    def _terminate(self, args: Mapping[str, Any]) -> ToolResult:
        from .services import change_run_members

        target = Agent.objects.filter(owner=self.run.owner, name=str(args.get("name", ""))).first()
        if target is None:
            return ToolResult(False, f"No agent named {args.get('name')!r}.", error_code="unknown_agent")
        ids = terminate_agent(self._acting(), target, reason=str(args.get("reason") or ""), run=self.run)
        gone = list(Agent.objects.filter(pk__in=ids))
        change_run_members(self.run.pk, left=gone, by=self.agent.name)
        return ToolResult(True, f"Terminated {', '.join(a.name for a in gone) or 'nobody (already terminated)'}.")

    def _send_message(self, args: Mapping[str, Any]) -> ToolResult:
        from .services import post_message

        recipient = Agent.objects.filter(owner=self.run.owner, name=str(args.get("to", ""))).first()
        if recipient is None:
            return ToolResult(False, f"No agent named {args.get('to')!r}.", error_code="unknown_agent")
        check_direct_message(self.agent, recipient, run=self.run)
        room = "dm:" + "+".join(sorted([self.agent.name, recipient.name]))
        post_message(self.run.pk, room=room, sender=self.agent.name, content=str(args.get("content", "")))
        return ToolResult(True, f"Sent to {recipient.name}.")

    def _broadcast(self, args: Mapping[str, Any]) -> ToolResult:
        from .services import post_message

        room = str(args.get("room", ""))
        check_broadcast(self.agent, room, run=self.run)
        post_message(self.run.pk, room=room, sender=self.agent.name, content=str(args.get("content", "")))
        return ToolResult(True, f"Posted to #{room}.")
