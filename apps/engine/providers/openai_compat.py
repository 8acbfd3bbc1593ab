"""OpenAI-compatible chat-completions provider (OpenAI, Ollama, vLLM, llama.cpp, LM Studio).

Config::

    {"base_url": "http://127.0.0.1:11434/v1", "model": "llama3.2",
     "api_key_env": "OPENAI_API_KEY", "temperature": 0.7, "max_tokens": 512,
     "stream": true, "timeout_s": 60, "max_retries": 2, "max_tool_rounds": 5,
     "prompt_price_per_1k": "0.00015", "completion_price_per_1k": "0.0006"}

The API key is read from the named environment variable at call time, never
stored. Streaming uses server-sent events; deltas go to ``on_token``.
Rate limits and server errors are retried with exponential backoff.

When the step offers tools (the agent holds the privileges for some), the
request carries them as functions and the provider runs the tool loop:
every call in a turn is answered in order, arguments are checked against the
tool's JSON Schema (a bad call goes back to the model as a tool error, not a
crash), until the model answers or ``max_tool_rounds`` is reached; three
identical failing calls in a row stop the loop. Tool turns are not streamed.
"""

from __future__ import annotations

import json
import logging
import os
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import urlparse

import httpx
import jsonschema

from ..errors import ProviderError, ProviderTimeout
from ..tools import ToolCall, ToolHost, ToolResult, ToolSpec
from ..values import AgentSpec, StepRequest, Usage
from .base import ConfigProblems, Reply, TokenSink, parsed_config, schema_defaults

logger = logging.getLogger(__name__)

RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}
MAX_BACKOFF_S = 10.0


@dataclass(frozen=True)
class OpenAIConfig:
    base_url: str
    model: str
    api_key_env: str
    temperature: float
    max_tokens: int | None
    stream: bool
    timeout_s: float
    max_retries: int
    max_tool_rounds: int
    prompt_price_per_1k: Decimal
    completion_price_per_1k: Decimal


def _price(title: str, description: str) -> dict[str, Any]:
    return {
        "type": ["string", "number"],
        "title": title,
        "description": description,
        "minimum": 0,
        "default": "0",
    }


CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "title": "OpenAI-compatible model",
    "description": "A chat-completions endpoint: OpenAI, Ollama, vLLM, llama.cpp, LM Studio. "
    "The API key is read from an environment variable when the agent runs, never stored.",
    "properties": {
        "base_url": {
            "type": "string",
            "format": "uri",
            "title": "Base URL",
            "description": "The endpoint's /v1 address, e.g. http://127.0.0.1:11434/v1 (Ollama) or "
            "https://api.openai.com/v1.",
            "pattern": "\\S",
        },
        "model": {
            "type": "string",
            "title": "Model",
            "description": "The model's name at that endpoint (gpt-4o-mini, llama3.2, ...). "
            "The agent needs the privilege model.<name>.",
            "pattern": "\\S",
        },
        "api_key_env": {
            "type": "string",
            "title": "API key variable",
            "description": "The name of the environment variable holding the key (e.g. OPENAI_API_KEY); "
            "empty for servers without keys.",
            "pattern": "^[A-Za-z0-9_]*$",
            "x-messages": {"pattern": "Must be the name of an environment variable, not the key itself."},
            "default": "",
        },
        "temperature": {
            "type": "number",
            "title": "Temperature",
            "description": "Sampling temperature: 0 is most deterministic.",
            "minimum": 0,
            "maximum": 2,
            "default": 0.7,
        },
        "max_tokens": {
            "type": ["integer", "null"],
            "title": "Max tokens",
            "description": "The most tokens a reply may have (empty: the server's limit).",
            "minimum": 1,
            "maximum": 1_000_000,
        },
        "stream": {
            "type": "boolean",
            "title": "Stream",
            "description": "Stream the reply token by token (shown live on the run page).",
            "default": True,
        },
        "timeout_s": {
            "type": "number",
            "title": "Timeout (seconds)",
            "description": "How long one request may take (or the step's own limit, if shorter).",
            "minimum": 1,
            "maximum": 3600,
            "default": 60,
        },
        "max_retries": {
            "type": "integer",
            "title": "Retries",
            "description": "Rate limits and server errors are retried this many times, with exponential backoff.",
            "minimum": 0,
            "maximum": 10,
            "default": 2,
        },
        "max_tool_rounds": {
            "type": "integer",
            "title": "Tool rounds",
            "description": "The most rounds of tool calls in one reply before the model must answer.",
            "minimum": 1,
            "maximum": 50,
            "default": 5,
        },
        "prompt_price_per_1k": _price("Prompt price ($ per 1000 tokens)", "What 1000 prompt tokens cost, for budgets."),
        "completion_price_per_1k": _price(
            "Completion price ($ per 1000 tokens)", "What 1000 completion tokens cost, for budgets."
        ),
    },
    "required": ["base_url", "model"],
    "additionalProperties": False,
}


def build_messages(spec: AgentSpec, request: StepRequest) -> list[dict[str, str]]:
    """Chat messages for a step: instructions, room history, then the input.

    The agent's own earlier messages become ``assistant`` turns; everyone
    else's are ``user`` turns, prefixed with the sender's name when the sender
    is another agent (people's messages, such as the task, go as they are). The input is
    appended unless it is already the last history message.
    """
    messages: list[dict[str, str]] = []
    if spec.instructions.strip():
        messages.append({"role": "system", "content": spec.instructions})
    for message in request.history:
        if message.sender == spec.name:
            messages.append({"role": "assistant", "content": message.content})
        elif message.is_human:
            messages.append({"role": "user", "content": message.content})
        else:
            messages.append({"role": "user", "content": f"{message.sender}: {message.content}"})
    if not request.history or request.history[-1].content != request.input:
        messages.append({"role": "user", "content": request.input})
    return messages


class OpenAICompatibleProvider:
    uses_history = True
    uses_tools = True

    config_schema: ClassVar[dict[str, Any]] = CONFIG_SCHEMA

    def parse_config(self, config: Mapping[str, Any]) -> OpenAIConfig:
        problems = ConfigProblems(CONFIG_SCHEMA, config, what="OpenAI-compatible agent")
        values = {**schema_defaults(CONFIG_SCHEMA), **config}
        base_url = values.get("base_url", "")
        if problems.passed("base_url") and urlparse(base_url).scheme not in {"http", "https"}:
            problems.add("base_url", "Must be an http:// or https:// URL, e.g. http://127.0.0.1:11434/v1.")
        prices = {
            key: problems.decimal(key, values[key], "Must be a non-negative number (dollars per 1000 tokens).")
            for key in ("prompt_price_per_1k", "completion_price_per_1k")
        }
        problems.raise_if_any()
        return OpenAIConfig(
            base_url=base_url.rstrip("/"),
            model=values["model"],
            api_key_env=values["api_key_env"],
            temperature=float(values["temperature"]),
            max_tokens=values.get("max_tokens"),
            stream=values["stream"],
            timeout_s=float(values["timeout_s"]),
            max_retries=values["max_retries"],
            max_tool_rounds=values["max_tool_rounds"],
            **prices,
        )

    def is_instant(self, config: Mapping[str, Any]) -> bool:
        return False

    def waits_async(self, config: Mapping[str, Any]) -> bool:
        # Measured: 200 concurrent calls to a local server took 630-815 ms on a thread each and
        # 940-1260 ms awaited through httpx's async client (2.7 s through one shared async
        # client). Threads it is, until an async client is the cheaper of the two.
        return False

    async def areply(self, spec: AgentSpec, request: StepRequest, *, on_token: TokenSink | None = None) -> Reply:
        raise ProviderError("OpenAI-compatible calls are made on a thread of their own (waits_async is false).")

    def reply(
        self, spec: AgentSpec, request: StepRequest, *, on_token: TokenSink | None = None, tools: ToolHost | None = None
    ) -> Reply:
        config = parsed_config(self, spec.config)
        headers = {"Content-Type": "application/json"}
        if config.api_key_env:
            key = os.environ.get(config.api_key_env)
            if not key:
                raise ProviderError(f"Environment variable {config.api_key_env} (the API key) is not set.")
            headers["Authorization"] = f"Bearer {key}"
        body: dict[str, Any] = {
            "model": config.model,
            "messages": build_messages(spec, request),
            "temperature": config.temperature,
            "stream": config.stream,
        }
        if config.max_tokens:
            body["max_tokens"] = config.max_tokens
        if config.stream:
            body["stream_options"] = {"include_usage": True}
        timeout = min(config.timeout_s, request.timeout_s)
        url = f"{config.base_url}/chat/completions"
        specs = tools.specs() if tools is not None else []
        data: dict[str, Any] = {"model": config.model}
        if specs:
            assert tools is not None
            content, prompt_tokens, completion_tokens, calls = self._tool_loop(
                config, url, headers, body, timeout, tools
            )
            data["tool_calls"] = calls
        else:
            content, prompt_tokens, completion_tokens = self._retrying(
                config, url, lambda: self._call(url, headers, body, timeout, on_token)
            )
        cost = (config.prompt_price_per_1k * prompt_tokens + config.completion_price_per_1k * completion_tokens) / 1000
        usage = Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, cost=cost)
        return Reply(content, usage=usage, data=data)

    @staticmethod
    def _retrying(config: OpenAIConfig, url: str, attempt_call):
        attempt = 0
        while True:
            try:
                return attempt_call()
            except ProviderError as exc:
                if not exc.retryable or attempt >= config.max_retries:
                    raise
                delay = min(MAX_BACKOFF_S, 0.5 * 2**attempt)
                logger.warning("Retrying %s after %s (attempt %d): %s", url, delay, attempt + 1, exc)
                time.sleep(delay)
                attempt += 1

    def _tool_loop(
        self,
        config: OpenAIConfig,
        url: str,
        headers: dict[str, str],
        body: dict[str, Any],
        timeout: float,
        tools: ToolHost,
    ) -> tuple[str, int, int, list[dict[str, Any]]]:
        specs = {spec.name: spec for spec in tools.specs()}
        body = {
            **body,
            "stream": False,
            "tools": [
                {
                    "type": "function",
                    "function": {"name": s.name, "description": s.description, "parameters": dict(s.parameters)},
                }
                for s in specs.values()
            ],
        }
        body.pop("stream_options", None)
        messages = list(body["messages"])
        prompt_tokens = completion_tokens = 0
        calls: list[dict[str, Any]] = []
        failures: list[tuple[str, str]] = []
        for _round in range(config.max_tool_rounds + 1):
            payload = self._retrying(
                config, url, lambda: self._post(url, headers, {**body, "messages": messages}, timeout)
            )
            used = _usage(payload.get("usage")) or (0, 0)
            prompt_tokens, completion_tokens = prompt_tokens + used[0], completion_tokens + used[1]
            try:
                message = payload["choices"][0]["message"]
            except (KeyError, IndexError, TypeError):
                raise ProviderError(f"Malformed chat completion: {str(payload)[:300]}") from None
            requested = message.get("tool_calls") or []
            if not requested:
                return message.get("content") or "", prompt_tokens, completion_tokens, calls
            messages.append({"role": "assistant", "content": message.get("content"), "tool_calls": requested})
            for tool_call in requested:
                name = str((tool_call.get("function") or {}).get("name", ""))
                raw = (tool_call.get("function") or {}).get("arguments") or "{}"
                result = _run_tool(tools, specs, name, raw)
                calls.append(
                    {
                        "tool": name,
                        "arguments": raw,
                        "ok": result.ok,
                        "content": result.content,
                        "error_code": result.error_code,
                    }
                )
                messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": tool_call.get("id", name),
                        "content": json.dumps(
                            {"ok": result.ok, "content": result.content, "error_code": result.error_code}
                        ),
                    }
                )
                failures = [*failures, (name, raw)] if not result.ok else []
                if len(failures) >= 3 and len(set(failures[-3:])) == 1:
                    raise ProviderError(f"The model repeated the same failing call to {name!r} three times; stopped.")
        raise ProviderError(f"No answer after {config.max_tool_rounds} rounds of tool calls; stopped.")

    def _post(self, url: str, headers: dict[str, str], body: dict[str, Any], timeout: float) -> dict[str, Any]:
        try:
            with httpx.Client(timeout=_timeout(timeout), verify=_tls()) as client:
                response = client.post(url, headers=headers, json=body)
        except httpx.TimeoutException as exc:
            raise ProviderTimeout(f"{url} did not answer within {timeout:g}s ({type(exc).__name__}).") from None
        except httpx.HTTPError as exc:
            raise ProviderError(f"Could not reach {url}: {exc}", retryable=True) from None
        if response.status_code >= 400:
            raise ProviderError(
                f"{url} answered HTTP {response.status_code}: {_error_text(response)}",
                retryable=response.status_code in RETRYABLE_STATUS,
            )
        try:
            return response.json()
        except ValueError:
            raise ProviderError(f"Malformed chat completion: {response.text[:300]}") from None

    def _call(
        self, url: str, headers: dict[str, str], body: dict[str, Any], timeout: float, on_token: TokenSink | None
    ) -> tuple[str, int, int]:
        try:
            client = httpx.Client(timeout=_timeout(timeout), verify=_tls())
            with client, client.stream("POST", url, headers=headers, json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    raise ProviderError(
                        f"{url} answered HTTP {response.status_code}: {_error_text(response)}",
                        retryable=response.status_code in RETRYABLE_STATUS,
                    )
                if body["stream"]:
                    return _read_stream(response.iter_lines(), on_token)
                response.read()
                return _read_completion(response)
        except httpx.TimeoutException as exc:
            raise ProviderTimeout(f"{url} did not answer within {timeout:g}s ({type(exc).__name__}).") from None
        except httpx.HTTPError as exc:
            raise ProviderError(f"Could not reach {url}: {exc}", retryable=True) from None


def _timeout(seconds: float) -> httpx.Timeout:
    return httpx.Timeout(seconds, connect=min(seconds, 10.0))


_tls_context: ssl.SSLContext | None = None
_tls_lock = threading.Lock()


def _tls() -> ssl.SSLContext:
    """The TLS settings every call's client shares (certificates verified as httpx's default does,
    ``SSL_CERT_FILE`` and ``SSL_CERT_DIR`` honoured), built on first use.

    An ``httpx`` client left to build its own loads the CA bundle again: 44 ms of CPU for every
    call, http:// endpoints included, where a wide fan-out makes hundreds at once; with this one
    a client costs under a millisecond. A context is safe to share between threads."""
    global _tls_context
    with _tls_lock:
        if _tls_context is None:
            _tls_context = httpx.create_ssl_context()
        return _tls_context


def _run_tool(tools: ToolHost, specs: Mapping[str, ToolSpec], name: str, raw: str) -> ToolResult:
    """One tool call from the model: check the name and arguments, then run it. Never raises."""
    if name not in specs:
        return ToolResult(
            False, f"There is no tool {name!r} here. Tools: {', '.join(specs) or 'none'}.", error_code="unknown_tool"
        )
    try:
        arguments = json.loads(raw) if isinstance(raw, str) else raw
        if not isinstance(arguments, dict):
            raise ValueError("arguments must be a JSON object")
        jsonschema.validate(arguments, dict(specs[name].parameters))
    except (ValueError, jsonschema.ValidationError) as exc:
        message = getattr(exc, "message", str(exc))
        return ToolResult(False, f"Invalid arguments for {name}: {message}", error_code="invalid_arguments")
    return tools.call(ToolCall(name, arguments))


def _error_text(response: httpx.Response) -> str:
    try:
        payload = response.json()
        error = payload.get("error", payload)
        if isinstance(error, Mapping):
            return str(error.get("message") or error)
        return str(error)
    except (ValueError, AttributeError):
        return response.text[:300] or response.reason_phrase


def _usage(payload: Mapping[str, Any] | None) -> tuple[int, int] | None:
    if not isinstance(payload, Mapping):
        return None
    return int(payload.get("prompt_tokens") or 0), int(payload.get("completion_tokens") or 0)


def _read_completion(response: httpx.Response) -> tuple[str, int, int]:
    try:
        payload = response.json()
        content = payload["choices"][0]["message"].get("content") or ""
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise ProviderError(f"Malformed chat completion: {response.text[:300]}") from None
    prompt_tokens, completion_tokens = _usage(payload.get("usage")) or (0, len(content) // 4)
    return content, prompt_tokens, completion_tokens


def _read_stream(lines: Iterator[str], on_token: TokenSink | None) -> tuple[str, int, int]:
    parts: list[str] = []
    usage: tuple[int, int] | None = None
    for line in lines:
        if not line.startswith("data:"):
            continue  # blank separators, comments (": keep-alive") and event names
        data = line[5:].strip()
        if data == "[DONE]":
            break
        try:
            chunk = json.loads(data)
        except ValueError:
            raise ProviderError(f"Malformed stream chunk: {data[:200]}") from None
        if "error" in chunk:
            raise ProviderError(f"Stream error: {chunk['error']}")
        usage = _usage(chunk.get("usage")) or usage
        for choice in chunk.get("choices") or []:
            delta = (choice.get("delta") or {}).get("content")
            if delta:
                parts.append(delta)
                if on_token is not None:
                    on_token(delta)
    content = "".join(parts)
    prompt_tokens, completion_tokens = usage or (0, len(content) // 4)
    return content, prompt_tokens, completion_tokens
