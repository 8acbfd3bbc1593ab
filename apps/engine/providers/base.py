"""The provider protocol: how an agent's reply is produced."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

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

    def reply(self, spec: AgentSpec, request: StepRequest, *, on_token: TokenSink | None = None) -> Reply:
        """Produce the agent's reply; raise ``ProviderError`` (or ``ProviderTimeout``) on failure."""
        ...
