"""The tool registry: every tool an agent can be offered, with its schema, privilege and implementation.

A tool is a name, a description, JSON-Schema parameters, the privilege a
call needs (checked at the moment of the call) and a handler. Handlers take
a ``ToolContext`` (the run, the step, the calling agent) and the validated
arguments and return a ``ToolResult``; they may be plain functions or
coroutines (``async def``), which run to completion on the worker thread.
Refusals and bad input are results with ``ok=False``: information for the
agent, not a crash of its step.

Built-ins are registered by ``apps.tools.builtin``; tools made by agents
come from the database (``MadeTool``) and run in the sandbox.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apps.engine.tools import ToolResult, ToolSpec

if TYPE_CHECKING:
    from apps.agents.models import Agent
    from apps.runs.models import Run, Step


@dataclass(frozen=True)
class ToolContext:
    run: Run
    step: Step
    agent: Agent


Handler = Callable[[ToolContext, Mapping[str, Any]], ToolResult | Awaitable[ToolResult]]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: Mapping[str, Any]
    privilege: str
    handler: Handler

    @property
    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, self.description, self.parameters)


_BUILTINS: dict[str, Tool] = {}


def register(tool: Tool) -> Tool:
    if tool.name in _BUILTINS:
        raise ValueError(f"A built-in tool named {tool.name!r} is already registered.")
    _BUILTINS[tool.name] = tool
    return tool


def builtin_tools() -> dict[str, Tool]:
    from . import builtin  # noqa: F401  (registers the built-ins on first use)

    return dict(_BUILTINS)


def object_schema(properties: Mapping[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": dict(properties), "required": required, "additionalProperties": False}
