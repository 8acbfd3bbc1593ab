"""The provider protocol: how an agent's reply is produced."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

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
    uses_tools: bool
    """Whether replies may call the tools the caller offers (``ToolHost.specs``); a scripted
    agent's tool calls are written in its config instead."""

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

    def waits_async(self, config: Mapping[str, Any]) -> bool:
        """True if ``areply`` can produce this config's replies on an event loop, given no tools.

        A call that mostly waits (on a model's HTTP answer, or a scripted delay standing in for
        one) then needs no thread of its own while it waits: the worker's agent-call pool awaits
        hundreds of them on one loop (``apps.runs.agent_calls``). Calls that may use tools, and
        providers that cannot await, take a thread each (``reply``)."""
        ...

    async def areply(self, spec: AgentSpec, request: StepRequest, *, on_token: TokenSink | None = None) -> Reply:
        """``reply`` awaited on an event loop, without tools (only where ``waits_async``)."""
        ...


_PARSED_CACHE_SIZE = 256
_parsed: OrderedDict[tuple[type, bytes], Any] = OrderedDict()
_parsed_lock = threading.Lock()


def parsed_config(provider: Provider, config: Mapping[str, Any]) -> Any:
    """``provider.parse_config(config)``, remembered by the config's content.

    A provider parses its agent's config on every reply; a wide fan-out makes hundreds of
    replies of one agent at once, each on its own thread, where that parse was most of the
    Python a call runs before it waits. Parsed configs are immutable values, so one serves
    every reply whose config has the same content (the key is its JSON, keys sorted).
    A config that raises is not remembered; one that is not JSON is parsed every time.
    """
    try:
        key = (type(provider), orjson.dumps(config, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS))
    except TypeError:
        return provider.parse_config(config)
    with _parsed_lock:
        if (found := _parsed.get(key)) is not None:
            _parsed.move_to_end(key)
            return found
    parsed = provider.parse_config(config)
    with _parsed_lock:
        _parsed[key] = parsed
        if len(_parsed) > _PARSED_CACHE_SIZE:
            _parsed.popitem(last=False)
    return parsed
