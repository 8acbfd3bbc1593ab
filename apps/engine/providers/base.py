"""The provider protocol: how an agent's reply is produced."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

import orjson

from ..errors import AgentConfigError
from ..schema import schema_errors
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
    config_schema: dict[str, Any]
    """JSON Schema (draft 2020-12) of an agent's config; ``parse_config`` validates with it."""
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


def schema_defaults(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Each property's ``default`` in a config schema (what the provider uses when a key is left out)."""
    return {key: prop["default"] for key, prop in schema.get("properties", {}).items() if "default" in prop}


class ConfigProblems:
    """A provider config's problems, every one at once: what its JSON Schema finds (types,
    ranges, choices, unknown keys), then the checks a schema cannot express (a template
    that does not compile, a regex, a setting that depends on another one).

    A config that is not a mapping at all is refused at once, without fields.
    """

    def __init__(self, schema: Mapping[str, Any], config: Any, *, what: str) -> None:
        self.what = what
        self.fields = schema_errors(schema, config)
        if (root := self.fields.pop("", None)) is not None:
            raise AgentConfigError(f"Invalid {what} configuration: {' '.join(root)}")

    def passed(self, path: str) -> bool:
        """Whether the value at ``path`` passed the schema: no problem with it, inside it or around it."""
        return not any(_related(key, path) for key in self.fields)

    def decimal(self, path: str, raw: Any, message: str) -> Decimal:
        """A non-negative amount (a price) as a ``Decimal``; ``message`` if it is not one."""
        if not self.passed(path):
            return Decimal("0")
        try:
            value = Decimal(str(raw))
        except InvalidOperation:
            value = None
        if value is None or not value.is_finite() or value < 0:
            self.add(path, message)
            return Decimal("0")
        return value

    def add(self, path: str, message: str) -> None:
        messages = self.fields.setdefault(path, [])
        if message not in messages:
            messages.append(message)

    def raise_if_any(self) -> None:
        if self.fields:
            raise AgentConfigError(f"Invalid {self.what} configuration.", fields=self.fields)


def _related(a: str, b: str) -> bool:
    """Whether field path ``a`` is ``b``, inside it, or around it (``rules[0]`` and ``rules[0].match``)."""
    short, long = sorted((a, b), key=len)
    return long == short or long.startswith((f"{short}.", f"{short}[")) or not short
