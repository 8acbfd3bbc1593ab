"""One JSON error shape for the whole API::

{"error": {"code": "invalid_strategy_config", "message": "...",
           "fields": {"strategy_config.max_turns": ["Must be ..."]}}}
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core.errors import Conflict
from apps.engine.definitions import DefinitionError
from apps.engine.errors import EngineError, ErrorCode
from apps.engine.governance import GovernanceError


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as ``{"field.sub[0].x": [messages]}``."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(detail, list):
        if all(not isinstance(v, dict | list) for v in detail):
            return {prefix or "non_field_errors": [str(v) for v in detail]}
        out = {}
        for i, value in enumerate(detail):
            if value:
                out.update(_flatten(value, f"{prefix}[{i}]"))
        return out
    return {prefix or "non_field_errors": [str(detail)]}


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": str(code), "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DefinitionError):
        # fields: {"agents/boss.yaml:4 config.model": ["..."], ...}: every problem, with file, line and key
        return Response(error_body("invalid_definition", exc.message, exc.fields), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, GovernanceError):
        # The code names the rule that was broken; ``fields.privilege`` the privilege at stake.
        return Response(error_body(exc.rule.value, exc.message, exc.fields), status=status.HTTP_403_FORBIDDEN)
    if isinstance(exc, EngineError):
        if exc.code == ErrorCode.NOT_FOUND:
            http = status.HTTP_404_NOT_FOUND
        elif isinstance(exc, Conflict):
            http = status.HTTP_409_CONFLICT
        else:
            http = status.HTTP_400_BAD_REQUEST
        return Response(error_body(exc.code, exc.message, exc.fields), status=http)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body(ErrorCode.INVALID, "Invalid input.", _flatten(exc.detail))
    elif isinstance(exc, exceptions.APIException):
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        response.data = error_body(code, str(exc.detail))
    return response
