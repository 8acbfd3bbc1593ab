"""Validation of a config against its JSON Schema, reported the way the engine reports errors.

Strategies and providers publish their config as a JSON Schema (draft 2020-12) so the
designer can generate a form from it; ``check_config`` makes that schema a definition the
engine validates with. jsonschema finds the problems; this module turns each into the
engine's short messages ("Must be a whole number.") under the engine's field paths
(``nodes[0].agent``, ``retry.attempts``, ``max_turns``), every problem at once.

A schema may word a message itself: ``"x-messages": {"<keyword>": "..."}`` on the
subschema that fails (e.g. ``{"pattern": "This field is required."}``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from .errors import ConfigError

_TYPE_MESSAGES = {
    "integer": "Must be a whole number.",
    "number": "Must be a number.",
    "string": "Must be a string.",
    "boolean": "Must be true or false.",
    "array": "Must be a list.",
    "object": "Must be a mapping.",
    "null": "Must be empty.",
}


def field_path(parts: Iterable[str | int]) -> str:
    """``("nodes", 0, "agent")`` -> ``"nodes[0].agent"``; the engine's way of naming a field."""
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


@lru_cache(maxsize=128)
def _compiled(schema_json: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads(schema_json))


def _validator_for(schema: Mapping[str, Any]) -> Draft202012Validator:
    # Schemas are plain dicts; keying the cache on their JSON text keeps one compiled
    # validator per schema without trusting that nobody changed the dict since.
    return _compiled(json.dumps(schema, sort_keys=True))


def _bound(value: float, schema: Mapping[str, Any]) -> str:
    if schema.get("type") == "integer" or (isinstance(value, int) and not isinstance(value, bool)):
        return str(int(value)) if float(value).is_integer() else f"{value:g}"
    return f"{value:g}"


def _type_message(expected: Any) -> str:
    kinds = [expected] if isinstance(expected, str) else list(expected)
    kinds = [k for k in kinds if k != "null"] or kinds
    if kinds == ["integer", "number"] or kinds == ["number", "integer"]:
        return _TYPE_MESSAGES["number"]
    if len(kinds) == 1:
        return _TYPE_MESSAGES.get(kinds[0], f"Must be of type {kinds[0]}.")
    if set(kinds) == {"string", "number"}:
        return "Must be a string or a number."
    return f"Must be one of the types: {', '.join(kinds)}."


def _range_message(schema: Mapping[str, Any]) -> str:
    low, high = schema.get("minimum"), schema.get("maximum")
    ex_low, ex_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if low is not None and high is not None:
        return f"Must be between {_bound(low, schema)} and {_bound(high, schema)}."
    if ex_low is not None and high is not None:
        return f"Must be more than {_bound(ex_low, schema)} and at most {_bound(high, schema)}."
    if low is not None:
        return f"Must be at least {_bound(low, schema)}."
    if ex_low is not None:
        return f"Must be more than {_bound(ex_low, schema)}."
    if high is not None:
        return f"Must be at most {_bound(high, schema)}."
    return f"Must be less than {_bound(ex_high, schema)}."


def _allowed(schema: Mapping[str, Any]) -> str:
    return ", ".join(sorted(schema.get("properties", {})))


def _messages(err: ValidationError) -> list[tuple[str, str]]:
    """``(path, message)`` pairs for one jsonschema error (several for extra or missing keys)."""
    schema = err.schema if isinstance(err.schema, Mapping) else {}
    here = list(err.absolute_path)
    custom = schema.get("x-messages", {}).get(err.validator)
    kind = err.validator
    if kind == "additionalProperties":
        extra = sorted(set(err.instance) - set(schema.get("properties", {})))
        message = custom or f"Unknown setting. Allowed: {_allowed(schema)}."
        return [(field_path([*here, key]), message) for key in extra]
    if kind == "required":
        missing = [key for key in err.validator_value if key not in err.instance]
        return [(field_path([*here, key]), custom or "This field is required.") for key in missing]
    if kind == "dependentRequired":
        return [
            (field_path([*here, key]), custom or "This field is required.")
            for trigger, needed in err.validator_value.items()
            if trigger in err.instance
            for key in needed
            if key not in err.instance
        ]
    if custom:
        return [(field_path(here), custom)]
    if kind == "type":
        message = _type_message(err.validator_value)
    elif kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        message = _range_message(schema)
    elif kind == "enum":
        message = f"Must be one of: {', '.join(str(v) for v in err.validator_value)}."
    elif kind == "const":
        message = f"Must be {err.validator_value!r}."
    elif kind == "minItems":
        count = err.validator_value
        message = "Must not be empty." if count == 1 else f"Must have at least {count} items."
    elif kind == "maxItems":
        message = f"Must have at most {err.validator_value} items."
    elif kind == "minLength":
        count = err.validator_value
        message = "This field is required." if count == 1 else f"Too short (at least {count} characters)."
    elif kind == "maxLength":
        message = f"Too long (at most {err.validator_value} characters)."
    elif kind == "pattern":
        message = "This field is required." if err.validator_value == r"\S" else "Has the wrong format."
    elif kind == "uniqueItems":
        message = "Must not repeat an item."
    elif kind == "minProperties":
        message = "Must not be empty."
    elif kind in ("oneOf", "anyOf") and err.context:
        return _best_alternative(err)
    else:
        message = "Is not valid here."
    return [(field_path(here), message)]


def _best_alternative(err: ValidationError) -> list[tuple[str, str]]:
    """For a value matching none of several alternatives, report the closest alternative's
    problems (the one with the fewest); a value of the wrong shape altogether gets the
    alternatives' titles."""
    by_alternative: dict[int, list[ValidationError]] = {}
    for sub in err.context or ():
        by_alternative.setdefault(sub.schema_path[0] if sub.schema_path else 0, []).append(sub)
    alternatives = err.validator_value
    # An alternative whose only complaint is the type of the value itself is not close.
    close = {
        index: subs
        for index, subs in by_alternative.items()
        if not all(s.validator == "type" and s.absolute_path == err.absolute_path for s in subs)
    }
    if not close:
        titles = [a.get("title") for a in alternatives if isinstance(a, Mapping) and a.get("title")]
        message = f"Must be one of: {', '.join(titles)}." if titles else "Is not valid here."
        return [(field_path(err.absolute_path), message)]
    index = min(close, key=lambda i: (len(close[i]), i))
    pairs: list[tuple[str, str]] = []
    for sub in close[index]:
        pairs.extend(_messages(sub))
    return pairs


def schema_errors(schema: Mapping[str, Any], config: Any) -> dict[str, list[str]]:
    """Every problem with ``config`` under ``schema`` as ``{engine field path: [messages]}``.

    A config that is not a mapping at all comes back under the empty path ``""``."""
    errors: dict[str, list[str]] = {}
    for err in _validator_for(schema).iter_errors({} if config is None else config):
        for path, message in _messages(err):
            if message not in errors.setdefault(path, []):
                errors[path].append(message)
    return errors


def check_config(schema: Mapping[str, Any], config: Any, *, error: type[ConfigError], what: str) -> None:
    """Raise ``error`` with every problem of ``config`` against ``schema``; return if it is valid.

    ``what`` names the config in the message ("heist strategy" -> "Invalid heist strategy
    configuration."). A config that is not a mapping is reported without fields.
    """
    errors = schema_errors(schema, config)
    if not errors:
        return
    root = errors.pop("", None)
    if root and not errors:
        raise error(f"Invalid {what} configuration: {' '.join(root)}")
    raise error(f"Invalid {what} configuration.", fields=errors)
