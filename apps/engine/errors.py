"""Typed errors raised by the engine, each carrying a stable error code.

The API and the UI turn these into messages at the edge; nothing in the
engine flattens an error into a string or exits.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class ErrorCode(StrEnum):
    """Error codes returned to API clients. Never rename a value: clients match on it."""

    INVALID = "invalid"
    UNKNOWN_STRATEGY = "unknown_strategy"
    INVALID_STRATEGY_CONFIG = "invalid_strategy_config"
    UNKNOWN_AGENT = "unknown_agent"
    UNKNOWN_PROVIDER = "unknown_provider"
    INVALID_AGENT_CONFIG = "invalid_agent_config"
    INVALID_TEMPLATE = "invalid_template"
    PROVIDER_ERROR = "provider_error"
    PROVIDER_TIMEOUT = "provider_timeout"
    RUN_NOT_ACTIVE = "run_not_active"
    HUMAN_REQUEST_CLOSED = "human_request_closed"
    INVALID_ANSWER = "invalid_answer"
    BUDGET_EXHAUSTED = "budget_exhausted"
    NOT_FOUND = "not_found"
    PERMISSION_DENIED = "permission_denied"
    CONFLICT = "conflict"  # someone else changed the object first (a stale version)


class EngineError(Exception):
    """Base of every engine error: a code, a message and optional per-field messages."""

    code: ErrorCode = ErrorCode.INVALID

    def __init__(
        self,
        message: str,
        *,
        fields: Mapping[str, list[str]] | None = None,
        code: ErrorCode | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fields: dict[str, list[str]] = {k: list(v) for k, v in (fields or {}).items()}
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        if not self.fields:
            return self.message
        details = "; ".join(f"{k}: {' '.join(v)}" for k, v in self.fields.items())
        return f"{self.message} ({details})"


class ConfigError(EngineError):
    """A configuration (strategy, agent, provider) failed validation."""

    code = ErrorCode.INVALID


class UnknownStrategyError(ConfigError):
    code = ErrorCode.UNKNOWN_STRATEGY


class StrategyConfigError(ConfigError):
    code = ErrorCode.INVALID_STRATEGY_CONFIG


class UnknownProviderError(ConfigError):
    code = ErrorCode.UNKNOWN_PROVIDER


class AgentConfigError(ConfigError):
    code = ErrorCode.INVALID_AGENT_CONFIG


class TemplateError(ConfigError):
    code = ErrorCode.INVALID_TEMPLATE


class ProviderError(EngineError):
    """A provider could not produce a reply (bad response, HTTP error, crash)."""

    code = ErrorCode.PROVIDER_ERROR

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class ProviderTimeout(ProviderError):
    code = ErrorCode.PROVIDER_TIMEOUT

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


class StrategyError(EngineError):
    """A strategy received a fact it cannot accept in its current state."""

    code = ErrorCode.INVALID
