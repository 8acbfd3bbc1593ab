"""Rendering of user-written templates (stage inputs, echo replies, instructions).

Templates are Jinja in a sandbox: they can read the values they are given and
nothing else. Undefined names are errors, so a typo shows up at validation
rather than as an empty string in a prompt.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from .errors import TemplateError


class Namespace:
    """A read-only mapping for templates where ``ns.name`` always means the item ``name``.

    Plain dicts would resolve ``outputs.get`` or ``outputs.items`` to dict
    methods instead of the node (or stage) of that name. Item syntax
    (``outputs['my-node']``) works too.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, Any]) -> None:
        self._items = dict(items)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._items[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self):
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Namespace({self._items!r})"


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


_ONE_NAME = re.compile(r"\{\{ *([A-Za-z_][A-Za-z0-9_]*) *\}\}")


def render(source: str, context: Mapping[str, Any]) -> str:
    """Render ``source`` with ``context``; raise ``TemplateError`` on any failure."""
    if "{" not in source and "\r" not in source:
        return source  # no delimiters and no newlines to normalise: Jinja would give it back as is
    if (match := _ONE_NAME.fullmatch(source)) and type(value := context.get(match[1])) is str:
        return value  # "{{ task }}", a workflow node's default input: Jinja would print the string as is
    try:
        return _compile(source).render(**context)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"Template syntax error on line {exc.lineno}: {exc.message}") from exc
    except UndefinedError as exc:
        raise TemplateError(f"Template uses an unknown value: {exc.message}") from exc
