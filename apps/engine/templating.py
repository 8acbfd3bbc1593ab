"""Rendering of user-written templates (stage inputs, echo replies, instructions).

Templates are Jinja in a sandbox: they can read the values they are given and
nothing else. Undefined names are errors, so a typo shows up at validation
rather than as an empty string in a prompt.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from .errors import TemplateError


@lru_cache(maxsize=1)
def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


@lru_cache(maxsize=512)
def _compile(source: str):
    return _environment().from_string(source)


def check_template(source: str) -> None:
    """Raise ``TemplateError`` if ``source`` is not valid template syntax."""
    try:
        _compile(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"Template syntax error on line {exc.lineno}: {exc.message}") from exc


def render(source: str, context: Mapping[str, Any]) -> str:
    """Render ``source`` with ``context``; raise ``TemplateError`` on any failure."""
    try:
        return _compile(source).render(**context)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"Template syntax error on line {exc.lineno}: {exc.message}") from exc
    except UndefinedError as exc:
        raise TemplateError(f"Template uses an unknown value: {exc.message}") from exc
