"""The provider protocol: how an agent's reply is produced."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..tools import ToolHost
from ..values import AgentSpec, StepRequest, Usage

TokenSink = Callable[[str], None]
"""Receives streamed text deltas while a reply is being produced."""


@dataclass(frozen=True)
class Reply:
    content: str
    usage: Usage = field(default_factory=Usage)
    done: bool = False
    data: Mapping[str, Any] = field(default_factory=dict)


class Provider(Protocol):
    uses_history: bool
    """Whether replies depend on ``StepRequest.history`` (callers skip loading it otherwise)."""

    def parse_config(self, config: Mapping[str, Any]) -> Any:
        """Validate an agent's config; raise ``AgentConfigError`` listing every bad field."""
        ...

    def is_instant(self, config: Mapping[str, Any]) -> bool:
        """True if replies are computed locally, at once and without side effects.

        Such steps may be run and recorded in one transaction; running one twice
        (a duplicate delivery) only recomputes the same pure function.
        """
        ...

    def reply(
        self, spec: AgentSpec, request: StepRequest, *, on_token: TokenSink | None = None, tools: ToolHost | None = None
    ) -> Reply:
        """Produce the agent's reply, calling ``tools`` if it needs to; raise ``ProviderError`` on failure."""
        ...
