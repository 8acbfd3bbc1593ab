"""The JSON Schema of the sao strategy's config (what the designer's form is drawn from and
`build_strategy` checks before the strategy's own parser)."""

from __future__ import annotations

from typing import Any

from ..curriculum import GENERATORS, GeneratorName
from ..judging import RuleMode
from . import schema_parts as sp

MAX_LEVELS = 20


class FinishWhen:
    ALL = "all"  # every agent reached the top or is out
    FIRST = "first"  # the first agent to reach the top ends the run


SOURCE_SHAPE = 'A source is {"generator": name} or {"dataset": [{task, expected, checker}, ...]}.'

DATASET_ITEM = "Each item is {task, expected, checker} with a non-empty task."

SOURCE_SCHEMA: dict[str, Any] = {
    "title": "Task source",
    "description": "Where the level's tasks come from: a seeded generator, or an inline dataset taken in order.",
    "default": {"generator": GeneratorName.ARITHMETIC.value},
    "type": ["object", "string"],
    "oneOf": [
        {
            "title": "Generator",
            "type": "object",
            "properties": {
                "generator": sp.choice(
                    "Generator", "Makes tasks of the level's difficulty.", tuple(GENERATORS), default="arithmetic"
                )
            },
            "required": ["generator"],
            "additionalProperties": False,
            "x-messages": {"additionalProperties": SOURCE_SHAPE},
        },
        {
            "title": "Dataset",
            "type": "object",
            "properties": {
                "dataset": {
                    "title": "Dataset",
                    "description": "The level's tasks, taken in order.",
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 1000,
                    "items": {
                        "title": "Item",
                        "type": "object",
                        "properties": {
                            "task": sp.text("Task", "The task's text.", required=True),
                            "expected": {
                                "title": "Expected answer",
                                "description": "The right answer (the rule judge needs one).",
                                "type": ["string", "number"],
                                "x-messages": {"type": "Must be a string or a number."},
                            },
                            "checker": sp.choice(
                                "Checker", "How this item's answer is compared (default: the judge's).", tuple(RuleMode)
                            ),
                        },
                        "required": ["task"],
                        "additionalProperties": False,
                        "x-messages": {
                            "type": DATASET_ITEM,
                            "required": DATASET_ITEM,
                            "additionalProperties": "Only task, expected and checker.",
                        },
                    },
                    "x-messages": {
                        key: "A list of 1 to 1000 {task, expected, checker} objects."
                        for key in ("type", "minItems", "maxItems")
                    },
                }
            },
            "required": ["dataset"],
            "additionalProperties": False,
            "x-messages": {"additionalProperties": SOURCE_SHAPE},
        },
        sp.choice("Generator (by name)", "A generator's name alone.", tuple(GENERATORS)),
    ],
    "x-messages": {"oneOf": SOURCE_SHAPE, "type": SOURCE_SHAPE},
}

LEVEL_SCHEMA: dict[str, Any] = {
    "title": "Level",
    "type": "object",
    "properties": {
        "name": sp.text("Name", "How the level is shown (default: Level N).", required=True),
        "difficulty": sp.integer(
            "Difficulty", "How hard the generated tasks are (default: the level's number).", minimum=1, maximum=10
        ),
        "time_limit_s": sp.number(
            "Time limit (seconds)",
            "An answer taking longer fails (default: the time limit below).",
            minimum=0.1,
            maximum=3600,
        ),
        "reward": sp.number(
            "Reward", "Awarded for passing (default: 0.5, 1, 2, 5, then doubling).", minimum=0, maximum=1_000_000
        ),
        "setback": sp.integer(
            "Setback",
            "Levels a fail sends an agent back, at most the levels below it (default: 0, 1, 2, then 3).",
            minimum=0,
            maximum=MAX_LEVELS - 1,
        ),
        "source": SOURCE_SCHEMA,
    },
    "additionalProperties": False,
    "x-messages": {"type": "Each level is {name, difficulty, time_limit_s, reward, setback, source}."},
}

CONFIG_SCHEMA: dict[str, Any] = sp.config(
    {
        "levels": {
            "title": "Levels",
            "description": "The curriculum, easiest first (default: four arithmetic levels).",
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_LEVELS,
            "items": LEVEL_SCHEMA,
            "x-messages": {key: f"A list of 1 to {MAX_LEVELS} levels." for key in ("type", "minItems", "maxItems")},
        },
        "agents": sp.members(
            "Agents",
            "Who climbs (default: every member but the judge's agents).",
            role="climbers",
            error="A non-empty list of member names.",
        ),
        "judge": sp.judge("Judge", "Scores each answer (default: a rule judge against the expected answer).")
        | {"type": ["object", "null"]},
        "pass_score": sp.number(
            "Pass score", "The judge's score an answer needs to pass.", default=0.5, minimum=0, maximum=1
        ),
        "max_attempts": sp.integer(
            "Attempts", "The most attempts per agent in one run.", default=20, minimum=1, maximum=1000
        ),
        "finish_when": sp.choice(
            "Finish when",
            "all: every agent reached the top or ran out of attempts; first: the first agent reaches the top.",
            (FinishWhen.ALL, FinishWhen.FIRST),
            default=FinishWhen.ALL,
        ),
        "resume": sp.boolean("Resume", "Agents start from the levels they reached in earlier runs.", default=True),
        "time_limit_s": sp.number(
            "Time limit (seconds)",
            "The levels' time limit unless a level says otherwise.",
            default=60.0,
            minimum=0.1,
            maximum=3600,
        ),
        "seed": sp.integer("Seed", "Makes generated tasks repeatable.", default=0, minimum=0),
        "room": sp.room("arena"),
    }
)
