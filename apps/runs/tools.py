"""The tool host of a run step: offers an agent its tools and runs its calls.

Offered: the registry's built-ins (``apps.tools.registry``) and the newest
approved version of each tool made by agents, each only when the agent
holds the tool's privilege (and, if the agent lists ``tools``, only those).
Every call is checked again when it happens: the agent must still be active
and hold the privilege (a denial is audited), and the arguments must match
the tool's JSON Schema. On an agent-call pool thread a call runs in a database
turn (``agent_calls.database_turn``). Refusals, bad arguments and tool errors come back
to the agent as failed results, never as a crashed step. Each call is
recorded in the step's trajectory (``data.tool_calls``) and shown live on
the run page as a sub-event of its step.
"""

from __future__ import annotations

import inspect
import json
import time
from typing import Any

import jsonschema
from asgiref.sync import async_to_sync

from apps.agents.governance import check_may_act
from apps.agents.models import Agent
from apps.core.errors import FieldsError
from apps.engine.errors import EngineError
from apps.engine.governance import GovernanceError
from apps.engine.tools import ToolCall, ToolResult, ToolSpec
from apps.tools.registry import Tool, ToolContext, builtin_tools

from .agent_calls import database_turn
from .broadcast import publish_now, run_group
from .models import Step

MAX_RECORDED_CONTENT = 4000


async def _await(awaitable):
    return await awaitable


class RunToolHost:
    """Runs tool calls for one agent during one step of a run, and records them."""

    def __init__(self, step: Step, agent: Agent, *, registry: dict[str, Tool] | None = None) -> None:
        """``registry``: the tools as read a moment ago for the same run (``registry()`` of another
        host), so a batch of calls reads them once; otherwise read on first use."""
        self.step = step
        self.agent = agent
        self.run = step.run
        self.calls: list[dict[str, Any]] = []
        self._registry: dict[str, Tool] | None = registry

    # ---- what the agent is offered ----------------------------------------------------

    def _tools(self) -> dict[str, Tool]:
        """The registry as this step sees it (read once per step, or per batch: a tool approved meanwhile
        waits for the next)."""
        if self._registry is None:
            self._registry = self._load_tools()
        return self._registry

    def registry(self) -> dict[str, Tool]:
        """Every tool this run's owner has (built-in and approved made ones), offered or not."""
        return self._tools()

    def _load_tools(self) -> dict[str, Tool]:
        from apps.tools.services import call_made_tool, usable_tools

        tools = builtin_tools()
        for name, made in usable_tools(self.run.owner).items():
            if name not in tools:
                tools[name] = Tool(
                    name,
                    made.description,
                    made.parameters,
                    made.privilege,
                    lambda ctx, args, made=made: call_made_tool(made, args),
                )
        return tools

    def _offered(self, tool: Tool) -> bool:
        listed = set(self.agent.tools or ())
        return tool.privilege in set(self.agent.privileges) and (not listed or tool.name in listed)

    def specs(self) -> list[ToolSpec]:
        return [tool.spec for tool in self._tools().values() if self._offered(tool)]

    # ---- one call ------------------------------------------------------------------------

    def call(self, call: ToolCall) -> ToolResult:
        started = time.perf_counter()
        with database_turn():  # on a pool thread: a connection only for the tool's moment
            result = self._run(call)
        record = {
            "tool": call.name,
            "arguments": dict(call.arguments),
            "ok": result.ok,
            "content": result.content[:MAX_RECORDED_CONTENT],
            "error_code": result.error_code,
            "duration_ms": int((time.perf_counter() - started) * 1000),
        }
        self.calls.append(record)
        publish_now(run_group(self.run.pk), {"type": "tool.called", "step_id": self.step.pk, "call": record})
        return result

    def _run(self, call: ToolCall) -> ToolResult:
        tool = self._tools().get(call.name)
        if tool is None:
            from apps.tools.services import pending_version

            if pending_version(self.run.owner, call.name) is not None:
                return ToolResult(
                    False, f"The tool {call.name!r} is waiting for a person's approval.", error_code="not_approved"
                )
            return ToolResult(False, f"Unknown tool {call.name!r}.", error_code="unknown_tool")
        try:
            check_may_act(self.agent, run=self.run, extra=[tool.privilege])
        except GovernanceError as exc:
            return ToolResult(False, f"Refused ({exc.rule.value}): {exc.message}", error_code=exc.rule.value)
        problems = sorted(jsonschema.Draft202012Validator(tool.parameters).iter_errors(dict(call.arguments)), key=str)
        if problems:
            detail = "; ".join(f"{'/'.join(map(str, p.absolute_path)) or 'arguments'}: {p.message}" for p in problems)
            return ToolResult(False, f"Invalid arguments: {detail}", error_code="invalid_arguments")
        context = ToolContext(run=self.run, step=self.step, agent=self.agent)
        try:
            result = tool.handler(context, call.arguments)
            if inspect.isawaitable(result):
                result = async_to_sync(_await)(result)
        except GovernanceError as exc:
            return ToolResult(False, f"Refused ({exc.rule.value}): {exc.message}", error_code=exc.rule.value)
        except (FieldsError, EngineError) as exc:
            return ToolResult(False, str(exc), error_code=str(exc.code))
        return result


def merge_records(reported: list[dict[str, Any]], hosted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One trajectory of a step's tool calls: what the provider reported (including calls it refused
    itself, e.g. to a tool it was not offered), with the host's fuller record for each call that
    reached the host (they come in the same order)."""
    merged, j = [], 0
    for call in reported:
        if j < len(hosted) and hosted[j]["tool"] == call.get("tool") and hosted[j]["ok"] == call.get("ok"):
            merged.append(hosted[j])
            j += 1
            continue
        arguments = call.get("arguments")
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except ValueError:
                pass
        merged.append({**call, "arguments": arguments, "duration_ms": 0})
    return merged + hosted[j:]
