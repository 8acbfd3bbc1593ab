"""The JSON Schema of the orc strategy's config (what the designer's form is drawn from and
`build_strategy` checks before the strategy's own parser)."""

from __future__ import annotations

from typing import Any

from . import schema_parts as sp


class Pick:
    HIGHEST_RATED = "highest_rated"  # the best-rated eligible agent challenges
    ROUND_ROBIN = "round_robin"  # eligible agents take turns
    RANDOM = "random"  # a seeded random pick


class Contest:
    DUEL = "duel"
    ROUND_ROBIN = "round_robin"
    TOURNAMENT = "tournament"


_EXPECTED = {
    "title": "Expected answer",
    "description": "The right answer, judged by a rule (optional).",
    "type": ["string", "number", "null"],
    "x-messages": {"type": "Must be a string or a number."},
}

CONFIG_SCHEMA: dict[str, Any] = sp.config(
    {
        "domains": {
            "title": "Domains",
            "description": "Domain name -> its description and agents; each has its own leader "
            "(default: one domain, general, with every member).",
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"title": "Domain name", "minLength": 1},
            "additionalProperties": {
                "title": "Domain",
                "type": "object",
                "properties": {
                    "description": sp.text(
                        "Description", "What the domain's tasks are about (helps infer a task's domain)."
                    ),
                    "agents": sp.members(
                        "Agents",
                        "Who may lead or challenge in this domain (default: every member).",
                        role="contenders",
                        error="A non-empty list of member names.",
                    ),
                },
                "additionalProperties": False,
                "x-messages": {
                    "type": "Each domain is {description, agents}.",
                    "additionalProperties": "Each domain is {description, agents}.",
                },
            },
            "x-messages": {
                "type": "An object of domain name -> {description, agents}.",
                "minProperties": "An object of domain name -> {description, agents}.",
            },
        },
        "tasks": {
            "title": "Tasks",
            "description": "Tasks to hold trials on, instead of the run's task (each may name its expected "
            "answer and domain).",
            "type": "array",
            "minItems": 1,
            "maxItems": 500,
            "items": {
                "title": "Task",
                "oneOf": [
                    sp.text("Task", "The task's text.", required=True),
                    {
                        "title": "Task with answer",
                        "type": "object",
                        "properties": {
                            "task": sp.text("Task", "The task's text.", required=True),
                            "expected": _EXPECTED,
                            "domain": sp.text("Domain", "One of the domains (default: inferred from the text).")
                            | {"type": ["string", "null"]},
                        },
                        "required": ["task"],
                        "additionalProperties": False,
                    },
                ],
                "x-error": "Each task is a string or {task, expected, domain} (only those keys).",
            },
            "x-messages": {
                key: "A list of 1 to 500 {task, expected, domain} objects." for key in ("type", "minItems", "maxItems")
            },
        },
        "expected": _EXPECTED,
        "domain": sp.text("Domain", "The run task's domain, one of the domains (default: inferred from the text).")
        | {"type": ["string", "null"]},
        "judge": sp.judge(
            "Judge",
            "Decides each trial (default: a metrics judge; a rule judge when an expected answer is given).",
        )
        | {"type": ["object", "null"]},
        "challenge": {
            "title": "Challenges",
            "description": "When and by whom the domain's leader is challenged.",
            "type": ["object", "null"],
            "properties": {
                "probability": sp.number(
                    "Probability", "The chance that a task brings a challenge.", default=1.0, minimum=0, maximum=1
                ),
                "cooldown": sp.integer(
                    "Cooldown", "Tasks without a challenge after each one.", default=0, minimum=0, maximum=1000
                ),
                "min_rating": sp.number(
                    "Minimum rating", "The Elo rating a challenger needs.", default=0.0, minimum=0, maximum=10_000
                ),
                "pick": sp.choice(
                    "Challenger",
                    "How the challenger is picked among the eligible agents.",
                    (Pick.HIGHEST_RATED, Pick.ROUND_ROBIN, Pick.RANDOM),
                    default=Pick.HIGHEST_RATED,
                ),
            },
            "additionalProperties": False,
            "x-messages": {
                "type": "An object with probability, cooldown, min_rating and pick.",
                "additionalProperties": "An object with probability, cooldown, min_rating and pick.",
            },
        },
        "k_factor": sp.number(
            "K factor", "How far one trial moves the Elo ratings.", default=32.0, minimum=1, maximum=400
        ),
        "min_trials": sp.integer(
            "Trials before leading", "Trials an agent needs before it may lead.", default=0, minimum=0, maximum=1000
        ),
        "max_defences": sp.integer(
            "Defences before rotation",
            "A leader who defended this many times in a row steps aside (default: never).",
            minimum=1,
            maximum=1000,
        )
        | {"type": ["integer", "null"]},
        "decay": sp.number(
            "Decay", "How much ratings drift back to the start per trial missed.", default=0.0, minimum=0, maximum=1
        ),
        "contest": sp.choice(
            "Contest",
            "duel: leader against one challenger; round_robin: everyone against everyone; tournament: knockout.",
            (Contest.DUEL, Contest.ROUND_ROBIN, Contest.TOURNAMENT),
            default=Contest.DUEL,
        ),
        "trial_timeout_s": sp.number(
            "Trial timeout (seconds)",
            "How long one answer may take (default: no limit).",
            minimum=0.1,
            maximum=3600,
        )
        | {"type": ["number", "null"]},
        "seed": sp.integer("Seed", "Makes random picks repeatable.", default=0, minimum=0),
        "room": sp.room("arena"),
    }
)
