"""Scripted provider: replies come from the agent's config, deterministically.

Config::

    {"replies": ["first", {"content": "second", "done": true}],
     "rules": [{"match": "(?i)price", "reply": "It costs $3."}],
     "default": "I have nothing to add.",
     "cycle": false, "delay_ms": 0,
     "cost_per_call": "0.0", "tokens_per_call": 0}

A rule whose regex matches the input wins; otherwise the n-th call gets the
n-th reply (cycling if ``cycle``), then ``default`` (or the last reply).
A reply is a template string or an object with ``content``, ``done``,
``error`` (the step fails with that message), ``delay_ms`` and
``tool_calls``: ``[{"tool": "spawn_agent", "arguments": {...}}]`` (string
arguments are templates, e.g. ``"{{ task }}"``), made in order before the
content is rendered; the content template sees their
results as ``tool_results`` (each with ``ok`` and ``content``).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from .. import templating
from ..config import ConfigReader
from ..errors import AgentConfigError, ConfigError, EngineError, ProviderError
from ..tools import NoTools, ToolCall, ToolHost
from ..values import AgentSpec, StepRequest, Usage
from .base import Reply, TokenSink, parsed_config


@dataclass(frozen=True)
class ScriptedReply:
    content: str = ""
    done: bool = False
    error: str = ""
    delay_ms: int | None = None
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class ScriptedConfig:
    replies: tuple[ScriptedReply, ...]
    rules: tuple[tuple[re.Pattern[str], ScriptedReply], ...]
    default: ScriptedReply | None
    cycle: bool
    delay_ms: int
    cost_per_call: Decimal
    tokens_per_call: int


def _parse_reply(reader: ConfigReader, key: str, raw: Any) -> ScriptedReply | None:
    if isinstance(raw, str):
        reply = ScriptedReply(content=raw)
    elif isinstance(raw, Mapping):
        unknown = set(raw) - {"content", "done", "error", "delay_ms", "tool_calls"}
        if unknown:
            reader.error(key, f"Unknown keys: {', '.join(sorted(unknown))}.")
        delay = raw.get("delay_ms")
        if delay is not None and (isinstance(delay, bool) or not isinstance(delay, int) or not 0 <= delay <= 600_000):
            reader.error(f"{key}.delay_ms", "Must be a whole number of milliseconds up to 600000.")
            delay = None
        calls: list[ToolCall] = []
        raw_calls = raw.get("tool_calls", [])
        if not isinstance(raw_calls, list):
            reader.error(f"{key}.tool_calls", "Must be a list of {tool, arguments} objects.")
            raw_calls = []
        for i, call in enumerate(raw_calls):
            if not isinstance(call, Mapping) or not isinstance(call.get("tool"), str):
                reader.error(f"{key}.tool_calls[{i}]", "Each call needs 'tool' (a name) and optional 'arguments'.")
            elif not isinstance(call.get("arguments", {}), Mapping):
                reader.error(f"{key}.tool_calls[{i}].arguments", "Must be an object.")
            else:
                calls.append(ToolCall(call["tool"], dict(call.get("arguments", {}))))
        reply = ScriptedReply(
            content=str(raw.get("content", "")),
            done=bool(raw.get("done", False)),
            error=str(raw.get("error", "")),
            delay_ms=delay,
            tool_calls=tuple(calls),
        )
    else:
        reader.error(key, "A reply is a string or an object with 'content'.")
        return None
    try:
        templating.check_template(reply.content)
    except ConfigError as exc:
        reader.error(key, exc.message)
    return reply


class ScriptedProvider:
    uses_history = False
    uses_tools = False

    def parse_config(self, config: Mapping[str, Any]) -> ScriptedConfig:
        allowed = {"replies", "rules", "default", "cycle", "delay_ms", "cost_per_call", "tokens_per_call"}
        reader = ConfigReader(config, allowed=allowed, error=AgentConfigError)
        raw_replies = reader.config.get("replies", [])
        replies: list[ScriptedReply] = []
        if not isinstance(raw_replies, list):
            reader.error("replies", "Must be a list.")
            raw_replies = []
        for i, raw in enumerate(raw_replies):
            if (reply := _parse_reply(reader, f"replies[{i}]", raw)) is not None:
                replies.append(reply)
        rules: list[tuple[re.Pattern[str], ScriptedReply]] = []
        raw_rules = reader.config.get("rules", [])
        if not isinstance(raw_rules, list):
            reader.error("rules", "Must be a list of {match, reply} objects.")
            raw_rules = []
        for i, raw in enumerate(raw_rules):
            if not isinstance(raw, Mapping) or "match" not in raw or "reply" not in raw:
                reader.error(f"rules[{i}]", "Each rule needs 'match' (a regex) and 'reply'.")
                continue
            try:
                pattern = re.compile(str(raw["match"]), re.IGNORECASE)
            except re.error as exc:
                reader.error(f"rules[{i}].match", f"Invalid regular expression: {exc}")
                continue
            if (reply := _parse_reply(reader, f"rules[{i}].reply", raw["reply"])) is not None:
                rules.append((pattern, reply))
        default = None
        if "default" in reader.config:
            default = _parse_reply(reader, "default", reader.config["default"])
        if not replies and not rules and default is None:
            reader.error("replies", "Give at least one reply, rule or default.")
        try:
            cost = Decimal(str(reader.config.get("cost_per_call", "0")))
            if not cost.is_finite() or cost < 0:
                raise InvalidOperation
        except InvalidOperation:
            reader.error("cost_per_call", "Must be a non-negative number.")
            cost = Decimal("0")
        parsed = ScriptedConfig(
            replies=tuple(replies),
            rules=tuple(rules),
            default=default,
            cycle=reader.boolean("cycle", False),
            delay_ms=reader.integer("delay_ms", 0, minimum=0, maximum=600_000) or 0,
            cost_per_call=cost,
            tokens_per_call=reader.integer("tokens_per_call", 0, minimum=0) or 0,
        )
        reader.raise_if_invalid("scripted agent")
        return parsed

    def is_instant(self, config: Mapping[str, Any]) -> bool:
        """Instant unless some reply waits (``delay_ms``, standing in for slow I/O) or calls tools."""
        if config.get("delay_ms"):
            return False
        return not any(
            isinstance(r, Mapping) and (r.get("delay_ms") or r.get("tool_calls")) for r in _raw_replies(config)
        )

    @staticmethod
    def choose(config: ScriptedConfig, request: StepRequest) -> ScriptedReply:
        for pattern, reply in config.rules:
            if pattern.search(request.input):
                return reply
        if config.replies:
            if config.cycle:
                return config.replies[request.call_index % len(config.replies)]
            if request.call_index < len(config.replies):
                return config.replies[request.call_index]
        if config.default is not None:
            return config.default
        return config.replies[-1]

    def waits_async(self, config: Mapping[str, Any]) -> bool:
        """Every reply but those that call tools (made on the caller's thread) can be awaited."""
        return not any(isinstance(r, Mapping) and r.get("tool_calls") for r in _raw_replies(config))

    def reply(
        self, spec: AgentSpec, request: StepRequest, *, on_token: TokenSink | None = None, tools: ToolHost | None = None
    ) -> Reply:
        config = parsed_config(self, spec.config)
        chosen = self.choose(config, request)
        if delay_ms := self._delay_ms(config, chosen):
            time.sleep(delay_ms / 1000)
        return self._reply(config, chosen, spec, request, on_token=on_token, tools=tools)

    async def areply(self, spec: AgentSpec, request: StepRequest, *, on_token: TokenSink | None = None) -> Reply:
        config = parsed_config(self, spec.config)
        chosen = self.choose(config, request)
        if chosen.tool_calls:  # waits_async said no for this config
            raise ProviderError("A scripted reply that calls tools is made on a thread (reply), not awaited.")
        if delay_ms := self._delay_ms(config, chosen):
            await asyncio.sleep(delay_ms / 1000)
        return self._reply(config, chosen, spec, request, on_token=on_token, tools=None)

    @staticmethod
    def _delay_ms(config: ScriptedConfig, chosen: ScriptedReply) -> int:
        return chosen.delay_ms if chosen.delay_ms is not None else config.delay_ms

    @staticmethod
    def _reply(
        config: ScriptedConfig,
        chosen: ScriptedReply,
        spec: AgentSpec,
        request: StepRequest,
        *,
        on_token: TokenSink | None,
        tools: ToolHost | None,
    ) -> Reply:
        if chosen.error:
            raise ProviderError(chosen.error)
        context: dict[str, Any] = {
            "input": request.input,
            "task": request.task,
            "agent": spec.name,
            "call_index": request.call_index,
        }
        results = []
        for scripted_call in chosen.tool_calls:
            try:  # string arguments are templates too ("{{ task }}")
                call = ToolCall(scripted_call.name, _render_strings(scripted_call.arguments, context))
            except EngineError as exc:
                raise ProviderError(exc.message) from None
            result = (tools or NoTools()).call(call)
            results.append(
                {
                    "tool": call.name,
                    "arguments": dict(call.arguments),
                    "ok": result.ok,
                    "content": result.content,
                    "error_code": result.error_code,
                }
            )
        context["tool_results"] = results
        try:
            content = templating.render(chosen.content, context)
        except EngineError as exc:
            raise ProviderError(exc.message) from None
        if on_token is not None:
            on_token(content)
        usage = Usage(completion_tokens=config.tokens_per_call, cost=config.cost_per_call)
        return Reply(content, usage=usage, done=chosen.done, data={"tool_calls": results} if results else {})


def _raw_replies(config: Mapping[str, Any]) -> list[Any]:
    """Every reply a config can give, as written (not parsed)."""
    return [
        *config.get("replies", []),
        *(r.get("reply") for r in config.get("rules", []) if isinstance(r, Mapping)),
        config.get("default"),
    ]


def _render_strings(value: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return templating.render(value, context) if ("{{" in value or "{%" in value) else value
    if isinstance(value, Mapping):
        return {key: _render_strings(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [_render_strings(item, context) for item in value]
    return value
