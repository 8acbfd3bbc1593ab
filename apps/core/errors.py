"""The error type services raise for invalid input, shared by API and UI."""

from __future__ import annotations

from collections.abc import Mapping

from apps.engine.errors import EngineError, ErrorCode


class FieldsError(EngineError):
    """Invalid input: a code, a message and messages per field (``"config.model"``)."""

    def __init__(
        self, message: str, *, fields: Mapping[str, list[str]] | None = None, code: ErrorCode = ErrorCode.INVALID
    ) -> None:
        super().__init__(message, fields=fields, code=code)


class Conflict(EngineError):
    """The action does not fit the object's current state (a finished run, an answered request)."""
