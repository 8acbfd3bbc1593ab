"""Tools agents can call during a step.

The engine defines the seam; the application implements it. A provider that
wants a tool calls ``host.call(name, arguments)`` and gets a ``ToolResult``
back within the same step (for model tool loops, the result goes back to
the model). Failures are results with ``ok=False``, not exceptions: a tool
error is information for the agent, not a crash of the step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolSpec:
    """What a model is told about a tool: its name, purpose and JSON-Schema parameters."""

    name: str
    description: str
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True)
class ToolResult:
    ok: bool
    content: str
    data: Mapping[str, Any] = field(default_factory=dict)
    error_code: str = ""


class ToolHost(Protocol):
    def specs(self) -> list[ToolSpec]:
        """The tools the current agent may be offered (what it holds the privileges for)."""
        ...

    def call(self, call: ToolCall) -> ToolResult:
        """Run one tool call for the current agent, checking its privileges first."""
        ...


class NoTools:
    """The host used where no tools are available: every call is refused."""

    def specs(self) -> list[ToolSpec]:
        return []

    def call(self, call: ToolCall) -> ToolResult:
        return ToolResult(False, f"No tools are available here (asked for {call.name!r}).", error_code="no_tools")
