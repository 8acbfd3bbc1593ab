"""Building blocks of the strategies' config JSON Schemas (draft 2020-12).

Each strategy class states its ``config_schema`` with these, so the pieces several share
(judges, a room, a list of members) read the same everywhere. The conventions the designer
relies on: every property has a ``title`` and a ``description`` and, where the engine has
one, a ``default``; ``"format": "member" | "template" | "node" | "training-run"`` mark what
a form offers as choices; ``"x-role"`` names the part a member plays on the canvas; the
``x-messages`` / ``x-error`` / ``x-discriminator`` annotations word errors as the engine's
own parsers do (see :mod:`apps.engine.schema`).
"""

from __future__ import annotations

from typing import Any

from ..judging import RuleMode
from ..values import FieldKind

Schema = dict[str, Any]

NOT_BLANK = r"\S"  # a string with something besides spaces (the engine's ``required=True``)


def _described(schema: Schema, title: str, description: str, default: Any, extra: dict[str, Any]) -> Schema:
    out: Schema = {"title": title, "description": description, **schema}
    if default is not None:
        out["default"] = default
    out.update(extra)
    return out


def config(properties: dict[str, Schema], *, required: tuple[str, ...] = (), **extra: Any) -> Schema:
    """A strategy's whole config: an object of exactly these keys, in form order."""
    schema: Schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
    }
    if required:
        schema["required"] = list(required)
    schema.update(extra)
    return schema


def integer(
    title: str,
    description: str,
    *,
    default: int | None = None,
    minimum: int | None = 0,
    maximum: int | None = None,
    **extra: Any,
) -> Schema:
    schema: Schema = {"type": "integer"}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return _described(schema, title, description, default, extra)


def number(
    title: str,
    description: str,
    *,
    default: float | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    **extra: Any,
) -> Schema:
    schema: Schema = {"type": "number"}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return _described(schema, title, description, default, extra)


def boolean(title: str, description: str, *, default: bool | None = None, **extra: Any) -> Schema:
    return _described({"type": "boolean"}, title, description, default, extra)


def choice(
    title: str, description: str, options: tuple[str, ...], *, default: str | None = None, **extra: Any
) -> Schema:
    return _described({"type": "string", "enum": list(options)}, title, description, default, extra)


def text(title: str, description: str, *, default: str | None = None, required: bool = False, **extra: Any) -> Schema:
    schema: Schema = {"type": "string"}
    if required:
        schema["pattern"] = NOT_BLANK
    return _described(schema, title, description, default, extra)


def template(title: str, description: str, *, default: str | None = None, **extra: Any) -> Schema:
    """A Jinja input template; its syntax is checked by the strategy (the schema cannot)."""
    return _described({"type": "string", "format": "template"}, title, description, default, extra)


def room(default: str) -> Schema:
    return text("Room", "The chat room the run's messages are posted to.", default=default, required=True)


def member(title: str, description: str, *, role: str | None = None, **extra: Any) -> Schema:
    """One swarm member by name (an agent, or a child swarm's slug)."""
    schema: Schema = {"type": "string", "format": "member"}
    if role:
        schema["x-role"] = role
    return _described(schema, title, description, None, extra)


def members(
    title: str,
    description: str,
    *,
    role: str | None = None,
    min_items: int | None = 1,
    error: str | None = None,
    **extra: Any,
) -> Schema:
    """A list of member names. ``error`` words every problem with the list as one message on
    the list itself, as the engine's parsers do."""
    schema: Schema = {"type": "array", "items": {"type": "string", "format": "member", "title": "Member"}}
    if min_items:
        schema["minItems"] = min_items
    if role:
        schema["x-role"] = role
    if error:
        schema["x-error"] = error
    return _described(schema, title, description, None, extra)


# ---- judges (shared by ORC, SAO and FORGE; parsed by apps.engine.judges.parse_judge) ----

_RULE_PROPERTIES: dict[str, Schema] = {
    "mode": choice(
        "Rule",
        "How the answer is compared with the expected one.",
        tuple(RuleMode),
        default=RuleMode.EXACT.value,
    ),
    "expected": {
        "title": "Expected answer",
        "description": "What a right answer is (a regular expression for mode regex).",
        "type": ["string", "number"],
        "x-messages": {"type": "Must be a string or a number."},
    },
    "case_sensitive": boolean("Case sensitive", "Whether letter case matters.", default=False),
    "tolerance": number(
        "Tolerance",
        "For numeric rules: how far from the expected number still counts as right.",
        default=1e-6,
        minimum=0,
        **{"x-messages": {"type": "Must be a number of at least 0.", "minimum": "Must be a number of at least 0."}},
    ),
}


def _kind(value: str, *, default: bool = False) -> Schema:
    schema: Schema = {"title": "Kind", "description": "What kind of judge this is.", "const": value}
    if default:
        schema["default"] = value
    return schema


def _judge_alternative(title: str, kind: str, properties: dict[str, Schema], *, required: tuple[str, ...]) -> Schema:
    return {
        "title": title,
        "type": "object",
        "properties": {"kind": _kind(kind, default=kind == "rule"), **properties},
        "required": list(required),
        "additionalProperties": False,
        "x-messages": {"additionalProperties": f"Unknown keys for a {kind} judge: {{keys}}."},
    }


def rule_judge(*, expected_required: bool = False) -> Schema:
    required = ("expected",) if expected_required else ()
    return _judge_alternative("Rule", "rule", dict(_RULE_PROPERTIES), required=required)


def metrics_judge() -> Schema:
    weight = {
        "type": "number",
        "minimum": 0,
        "x-messages": {"type": "Must be a number of at least 0.", "minimum": "Must be a number of at least 0."},
    }
    weights = {
        "title": "Weights",
        "description": "How much accuracy, speed (latency) and cost count; at least one above 0.",
        "type": "object",
        "properties": {
            "accuracy": {"title": "Accuracy", "description": "Weight of being right.", "default": 0.0, **weight},
            "latency": {"title": "Latency", "description": "Weight of answering fast.", "default": 0.0, **weight},
            "cost": {"title": "Cost", "description": "Weight of answering cheaply.", "default": 0.0, **weight},
        },
        "additionalProperties": False,
        "default": {"accuracy": 1.0},
        "x-messages": {
            "type": "An object with accuracy, latency and cost weights.",
            "additionalProperties": "An object with accuracy, latency and cost weights.",
        },
    }
    return _judge_alternative("Metrics", "metrics", {"weights": weights, **_RULE_PROPERTIES}, required=("kind",))


def llm_judge() -> Schema:
    return _judge_alternative(
        "LLM agent",
        "llm",
        {
            "agent": member("Judge agent", "The member that judges the answers.", role="judge"),
            "retries": integer(
                "Retries",
                "How often an unreadable verdict is asked again before it counts as a tie.",
                default=1,
                minimum=0,
                maximum=5,
                **{"x-messages": {"type": "Must be a whole number from 0 to 5."}},
            ),
        },
        required=("kind", "agent"),
    )


def judge(title: str, description: str, *, kinds: tuple[str, ...] = ("rule", "metrics", "llm", "consensus")) -> Schema:
    """A judge config: ``{"kind": "rule" | "metrics" | "llm" | "consensus", ...}`` (rule when
    ``kind`` is left out)."""
    builders = {"rule": rule_judge, "metrics": metrics_judge, "llm": llm_judge}
    alternatives = [builders[kind]() for kind in kinds if kind in builders]
    if "consensus" in kinds:
        single = judge("Judge", "One of the judges that vote.", kinds=tuple(k for k in kinds if k != "consensus"))
        alternatives.append(
            _judge_alternative(
                "Consensus of judges",
                "consensus",
                {
                    "judges": {
                        "title": "Judges",
                        "description": "The judges whose majority decides (at least two; they do not nest).",
                        "type": "array",
                        "minItems": 2,
                        "items": single,
                        "x-messages": {
                            "type": "A consensus needs a list of at least two judges.",
                            "minItems": "A consensus needs a list of at least two judges.",
                        },
                    }
                },
                required=("kind", "judges"),
            )
        )
    return {
        "title": title,
        "description": description,
        "type": "object",
        "x-discriminator": "kind",
        "oneOf": alternatives,
        "x-messages": {"type": "A judge is an object with 'kind' (rule, metrics, llm or consensus)."},
    }


# ---- a person's form (apps.engine.human.parse_question) ----------------------------------

QUESTION_SHAPE = "Must be an object with a prompt and, optionally, fields."


def human_question() -> Schema:
    field_error = (
        "Each field needs a 'name' that is a valid identifier, a kind of "
        f"{', '.join(k.value for k in FieldKind)} and, for a choice, a non-empty 'choices' list."
    )
    answer_field: Schema = {
        "title": "Field",
        "type": "object",
        "properties": {
            "name": text("Name", "The answer's key (an identifier), e.g. decision.", required=True)
            | {"pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
            "label": text("Label", "What the form shows beside the field (default: the name)."),
            "kind": choice("Kind", "The input the person fills in.", tuple(FieldKind), default=FieldKind.TEXT.value),
            "required": boolean("Required", "Whether the person must fill it in.", default=True),
            "choices": {
                "title": "Choices",
                "description": "The options of a choice field.",
                "type": "array",
                "items": {"type": "string", "title": "Choice"},
            },
            "help": text("Help", "A hint under the field.", default=""),
        },
        "required": ["name"],
        "additionalProperties": False,
        "if": {"properties": {"kind": {"const": "choice"}}, "required": ["kind"]},
        "then": {"properties": {"choices": {"minItems": 1}}, "required": ["choices"]},
        "x-error": field_error,
    }
    return {
        "title": "Ask a person",
        "description": "The form a person answers before the pipeline goes on.",
        "type": "object",
        "properties": {
            "prompt": template("Prompt", "What the person is asked (a template, like an input).")
            | {
                "pattern": NOT_BLANK,
                "x-messages": {"pattern": "A prompt is required.", "type": "A prompt is required."},
            },
            "fields": {
                "title": "Fields",
                "description": "The answer form (default: one text area named answer).",
                "type": "array",
                "minItems": 1,
                "items": answer_field,
                "x-messages": {
                    "type": "Must be a non-empty list of fields.",
                    "minItems": "Must be a non-empty list of fields.",
                },
            },
        },
        "required": ["prompt"],
        "additionalProperties": False,
        "x-messages": {"type": QUESTION_SHAPE},
    }
