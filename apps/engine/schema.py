"""Validation of a config against its JSON Schema, reported the way the engine reports errors.

Strategies and providers publish their config as a JSON Schema (draft 2020-12) so the
designer can generate a form from it; ``check_config`` makes that schema a definition the
engine validates with. jsonschema finds the problems; this module turns each into the
engine's short messages ("Must be a whole number.") under the engine's field paths
(``nodes[0].agent``, ``retry.attempts``, ``max_turns``), every problem at once.

Annotations a schema may carry to word its messages as the engine does:

- ``"x-messages": {"<keyword>": "..."}`` on the subschema that fails: the message for that
  keyword, at that subschema's path (for ``additionalProperties`` and ``required`` too, at
  the object rather than at each key; ``{keys}`` names them).
- ``"x-error": "..."``: any problem at or inside this subschema is this one message at its
  path (the engine reports a list of member names as one problem of the list).
- ``"x-discriminator": "<key>"`` next to ``oneOf``: the property whose ``const`` picks the
  alternative whose problems are reported.
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


_SCHEMA_TEXTS: dict[int, tuple[Mapping[str, Any], str]] = {}


def _schema_text(schema: Mapping[str, Any]) -> str:
    """The schema as canonical JSON: the key of its compiled validator and of cached results.

    Schemas are class-level constants, so the text is kept per schema object."""
    known = _SCHEMA_TEXTS.get(id(schema))
    if known is not None and known[0] is schema:
        return known[1]
    text = json.dumps(schema, sort_keys=True)
    _SCHEMA_TEXTS[id(schema)] = (schema, text)
    return text


@lru_cache(maxsize=128)
def _compiled(schema_text: str) -> tuple[Draft202012Validator, dict[str, Any]]:
    root = json.loads(schema_text)
    return Draft202012Validator(root), root


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


def _messages(err: ValidationError, root: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(path, message)`` pairs for one jsonschema error (several for extra or missing keys)."""
    collapsed = _collapsed(err, root)
    if collapsed is not None:
        return [collapsed]
    schema = err.schema if isinstance(err.schema, Mapping) else {}
    here = list(err.absolute_path)
    kind = err.validator
    custom = schema.get("x-messages", {}).get(kind)
    if kind in ("additionalProperties", "required", "dependentRequired"):
        keys = _keys_at_fault(err, schema)
        if custom:  # the schema words it, and names the object rather than each key
            return [(field_path(here), custom.replace("{keys}", ", ".join(keys)))]
        if kind == "additionalProperties":
            return [(field_path([*here, key]), f"Unknown setting. Allowed: {_allowed(schema)}.") for key in keys]
        return [(field_path([*here, key]), "This field is required.") for key in keys]
    if kind in ("oneOf", "anyOf"):
        if not _type_fits(err, schema):
            return []  # the value has the wrong type; the type check next to this one says so
        return _alternative_messages(err, schema, root, custom)
    if custom:
        return [(field_path(here), custom)]
    return [(field_path(here), _default_message(err, schema))]


def _default_message(err: ValidationError, schema: Mapping[str, Any]) -> str:
    kind, value = err.validator, err.validator_value
    if kind == "type":
        return _type_message(value)
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return _range_message(schema)
    if kind == "enum":
        return f"Must be one of: {', '.join(str(v) for v in value)}."
    if kind == "const":
        return f"Must be {value!r}."
    if kind == "minItems":
        return "Must not be empty." if value == 1 else f"Must have at least {value} items."
    if kind == "maxItems":
        return f"Must have at most {value} items."
    if kind == "minLength":
        return "This field is required." if value == 1 else f"Too short (at least {value} characters)."
    if kind == "maxLength":
        return f"Too long (at most {value} characters)."
    if kind == "pattern":
        return "This field is required." if value == r"\S" else "Has the wrong format."
    if kind == "uniqueItems":
        return "List each item once."
    if kind == "minProperties":
        return "Must not be empty."
    return "Is not valid here."


def _keys_at_fault(err: ValidationError, schema: Mapping[str, Any]) -> list[str]:
    """The unknown keys (additionalProperties) or the missing ones (required, dependentRequired)."""
    present = set(err.instance) if isinstance(err.instance, Mapping) else set()
    if err.validator == "additionalProperties":
        return sorted(present - set(schema.get("properties", {})))
    if err.validator == "required":
        return [key for key in err.validator_value if key not in present]
    return [
        key
        for trigger, needed in err.validator_value.items()
        if trigger in present
        for key in needed
        if key not in present
    ]


def _collapsed(err: ValidationError, root: Mapping[str, Any]) -> tuple[str, str] | None:
    """The ``x-error`` of the outermost subschema on the way to the failing keyword, at that
    subschema's path: the engine reports some structures (a list of member names) as one
    problem of the whole value, whatever is wrong inside it."""
    node: Any = root
    instance = list(err.absolute_path)
    depth = 0
    keys = list(err.absolute_schema_path)
    i = 0
    while isinstance(node, Mapping):
        if "x-error" in node:
            return field_path(instance[:depth]), node["x-error"]
        if i >= len(keys):
            return None
        key = keys[i]
        if key in ("properties", "patternProperties", "prefixItems") and i + 1 < len(keys):
            node, i, depth = node[key][keys[i + 1]], i + 2, depth + 1
        elif key in ("items", "additionalProperties", "contains"):
            node, i, depth = node[key], i + 1, depth + 1
        elif key in ("oneOf", "anyOf", "allOf") and i + 1 < len(keys):
            node, i = node[key][keys[i + 1]], i + 2
        elif key in ("if", "then", "else", "not"):
            node, i = node[key], i + 1
        else:
            return None
    return None


def _type_fits(err: ValidationError, schema: Mapping[str, Any]) -> bool:
    expected = schema.get("type")
    if expected is None:
        return True
    kinds = [expected] if isinstance(expected, str) else list(expected)
    return any(Draft202012Validator.TYPE_CHECKER.is_type(err.instance, kind) for kind in kinds)


def _alternative_messages(
    err: ValidationError, schema: Mapping[str, Any], root: Mapping[str, Any], custom: str | None
) -> list[tuple[str, str]]:
    """A value that matches none (or, for oneOf, several) of the alternatives.

    The alternative the value chose is the one whose ``x-discriminator`` property it names
    (``"kind": "llm"``; the alternative with a default for it when absent) or else the only
    one whose required keys it has; that alternative's problems are reported. Without a
    choice, the schema's ``x-messages`` wording, or the alternatives' titles."""
    alternatives = list(err.validator_value)
    here = list(err.absolute_path)
    discriminator = schema.get("x-discriminator")
    if discriminator and isinstance(err.instance, Mapping):
        consts = [alt.get("properties", {}).get(discriminator, {}) for alt in alternatives]
        given = err.instance.get(discriminator)
        if discriminator not in err.instance:
            given = next((c.get("default") for c in consts if "default" in c), None)
        chosen = [i for i, c in enumerate(consts) if "const" in c and c["const"] == given]
        if not chosen:
            names = ", ".join(str(c["const"]) for c in consts if "const" in c)
            return [(field_path([*here, discriminator]), f"Must be one of: {names}.")]
    elif isinstance(err.instance, Mapping):
        chosen = [
            i
            for i, alt in enumerate(alternatives)
            if isinstance(alt, Mapping) and alt.get("required") and set(alt["required"]) <= set(err.instance)
        ]
    else:
        chosen = []
    if len(chosen) == 1:
        pairs: list[tuple[str, str]] = []
        for sub in err.context or ():
            if sub.relative_schema_path and sub.relative_schema_path[0] == chosen[0]:
                pairs.extend(_messages(sub, root))
        if pairs:
            return pairs
    if custom:
        return [(field_path(here), custom)]
    titles = [alt.get("title") for alt in alternatives if isinstance(alt, Mapping) and alt.get("title")]
    return [(field_path(here), f"Must be one of: {', '.join(titles)}." if titles else "Is not valid here.")]


def schema_errors(schema: Mapping[str, Any], config: Any) -> dict[str, list[str]]:
    """Every problem with ``config`` under ``schema`` as ``{engine field path: [messages]}``.

    A config that is not a mapping at all comes back under the empty path ``""``."""
    config = {} if config is None else config
    schema_text = _schema_text(schema)
    config_text = _plain_json(config)
    if config_text is None:
        return _find_errors(schema_text, config)
    # A run's start, the designer's every edit and the save validate the same config again;
    # a 200-node workflow takes jsonschema about ten milliseconds.
    return {path: list(messages) for path, messages in _cached_errors(schema_text, config_text).items()}


def _plain_json(config: Any) -> str | None:
    """``config`` as canonical JSON, or None when it is not plain JSON (a tuple, a set, NaN):
    such a config is validated as it is, not as its JSON would read."""
    try:
        text = json.dumps(config, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        return None
    return text if json.loads(text) == config else None


@lru_cache(maxsize=256)
def _cached_errors(schema_text: str, config_text: str) -> dict[str, tuple[str, ...]]:
    return {path: tuple(messages) for path, messages in _find_errors(schema_text, json.loads(config_text)).items()}


def _find_errors(schema_text: str, config: Any) -> dict[str, list[str]]:
    validator, root = _compiled(schema_text)
    errors: dict[str, list[str]] = {}
    for err in validator.iter_errors(config):
        for path, message in _messages(err, root):
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
