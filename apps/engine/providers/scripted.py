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
from decimal import Decimal
from typing import Any, ClassVar

from .. import templating
from ..errors import ConfigError, EngineError, ProviderError
from ..tools import NoTools, ToolCall, ToolHost
from ..values import AgentSpec, StepRequest, Usage
from .base import ConfigProblems, Reply, TokenSink, parsed_config, schema_defaults


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


_REPLY_OBJECT: dict[str, Any] = {
    "type": "object",
    "title": "Reply with options",
    "description": "A reply that may end the conversation, fail the step, wait, or call tools first.",
    "properties": {
        "content": {
            "type": "string",
            "format": "template",
            "title": "Content",
            "description": "The reply (a template: {{ input }}, {{ task }}, {{ agent }}, {{ call_index }}, "
            "and {{ tool_results }} after tool calls).",
            "default": "",
        },
        "done": {
            "type": "boolean",
            "title": "Ends the conversation",
            "description": "The agent says it is done (chat rooms and pipelines stop on it).",
            "default": False,
        },
        "error": {
            "type": "string",
            "title": "Fail with this error",
            "description": "The step fails with this message instead of replying (to rehearse retries and fallbacks).",
            "default": "",
        },
        "delay_ms": {
            "type": "integer",
            "title": "Delay (ms)",
            "description": "Wait this long before replying, standing in for a slow model (overrides the agent's).",
            "minimum": 0,
            "maximum": 600_000,
        },
        "tool_calls": {
            "type": "array",
            "title": "Tool calls",
            "description": "Tools called in order before the content is rendered; string arguments are templates.",
            "default": [],
            "items": {
                "type": "object",
                "title": "Tool call",
                "properties": {
                    "tool": {
                        "type": "string",
                        "title": "Tool",
                        "description": "The tool's name (spawn_agent, memory_write, ...).",
                        "minLength": 1,
                    },
                    "arguments": {
                        "type": "object",
                        "title": "Arguments",
                        "description": "The call's arguments, as the tool's parameters describe them.",
                        "default": {},
                    },
                },
                "required": ["tool"],
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}

_REPLY: dict[str, Any] = {
    "title": "Reply",
    "description": "A template string, or an object with content and options.",
    "oneOf": [
        {
            "type": "string",
            "format": "template",
            "title": "Text",
            "description": "The reply, a template: {{ input }}, {{ task }}, {{ agent }}, {{ call_index }}.",
        },
        _REPLY_OBJECT,
    ],
}

CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "title": "Scripted replies",
    "description": "Deterministic replies written in advance: the n-th call gets the n-th reply, a matching rule "
    "wins over them, and the default answers when they run out. Runs offline, instantly, for free.",
    "properties": {
        "replies": {
            "type": "array",
            "title": "Replies",
            "description": "Given in order, one per call.",
            "items": {"$ref": "#/$defs/reply"},
            "default": [],
        },
        "rules": {
            "type": "array",
            "title": "Rules",
            "description": "A rule whose regular expression matches the input (ignoring case) gives its reply instead.",
            "items": {
                "type": "object",
                "title": "Rule",
                "properties": {
                    "match": {
                        "type": "string",
                        "format": "regex",
                        "title": "When the input matches",
                        "description": "A regular expression, searched in the input, ignoring case.",
                    },
                    "reply": {"$ref": "#/$defs/reply"},
                },
                "required": ["match", "reply"],
                "x-messages": {"required": "Each rule needs 'match' (a regex) and 'reply'."},
                "additionalProperties": False,
            },
            "default": [],
        },
        "default": {
            "$ref": "#/$defs/reply",
            "title": "Default reply",
            "description": "Given when the replies have run out and no rule matches (otherwise: the last reply).",
        },
        "cycle": {
            "type": "boolean",
            "title": "Cycle through the replies",
            "description": "Start again from the first reply after the last one.",
            "default": False,
        },
        "delay_ms": {
            "type": "integer",
            "title": "Delay (ms)",
            "description": "Wait this long before every reply, standing in for a slow model.",
            "minimum": 0,
            "maximum": 600_000,
            "default": 0,
        },
        "cost_per_call": {
            "type": ["string", "number"],
            "title": "Cost per call ($)",
            "description": 'Dollars each reply costs, counted against the run\'s budget (a decimal, e.g. "0.002").',
            "minimum": 0,
            "default": "0",
        },
        "tokens_per_call": {
            "type": "integer",
            "title": "Tokens per call",
            "description": "Completion tokens each reply reports.",
            "minimum": 0,
            "default": 0,
        },
    },
    "additionalProperties": False,
    "$defs": {"reply": _REPLY},
}


def _items(values: Mapping[str, Any], key: str) -> list[Any]:
    """The list at ``key``, or none if it is not a list (the schema said so); its items may still have problems."""
    return values[key] if isinstance(values[key], list) else []


def _reply(problems: ConfigProblems, path: str, raw: Any) -> ScriptedReply | None:
    """One reply the schema accepted, with its template checked."""
    if not problems.passed(path):
        return None
    if isinstance(raw, str):
        raw = {"content": raw}
    try:
        templating.check_template(raw.get("content", ""))
    except ConfigError as exc:
        problems.add(path, exc.message)
        return None
    return ScriptedReply(
        content=raw.get("content", ""),
        done=raw.get("done", False),
        error=raw.get("error", ""),
        delay_ms=raw.get("delay_ms"),
        tool_calls=tuple(ToolCall(call["tool"], dict(call.get("arguments", {}))) for call in raw.get("tool_calls", [])),
    )


class ScriptedProvider:
    uses_history = False
    uses_tools = False
    config_schema: ClassVar[dict[str, Any]] = CONFIG_SCHEMA

    def parse_config(self, config: Mapping[str, Any]) -> ScriptedConfig:
        problems = ConfigProblems(CONFIG_SCHEMA, config, what="scripted agent")
        values = {**schema_defaults(CONFIG_SCHEMA), **config}
        replies = [_reply(problems, f"replies[{i}]", raw) for i, raw in enumerate(_items(values, "replies"))]
        rules: list[tuple[re.Pattern[str], ScriptedReply | None]] = []
        for i, raw in enumerate(_items(values, "rules")):
            if not problems.passed(f"rules[{i}]"):
                continue
            try:
                pattern = re.compile(raw["match"], re.IGNORECASE)
            except re.error as exc:
                problems.add(f"rules[{i}].match", f"Invalid regular expression: {exc}")
                continue
            rules.append((pattern, _reply(problems, f"rules[{i}].reply", raw["reply"])))
        default = _reply(problems, "default", config["default"]) if "default" in config else None
        lists_valid = problems.passed("replies") and problems.passed("rules")
        if lists_valid and not values["replies"] and not values["rules"] and "default" not in config:
            problems.add("replies", "Give at least one reply, rule or default.")
        cost = problems.decimal("cost_per_call", values["cost_per_call"], "Must be a non-negative number.")
        problems.raise_if_any()
        return ScriptedConfig(
            replies=tuple(r for r in replies if r is not None),
            rules=tuple((pattern, reply) for pattern, reply in rules if reply is not None),
            default=default,
            cycle=values["cycle"],
            delay_ms=values["delay_ms"],
            cost_per_call=cost,
            tokens_per_call=values["tokens_per_call"],
        )

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
