"""Task sources for SAO curricula: seeded generators and inline dataset slices.

A source turns (difficulty, seed) into a :class:`CurriculumTask`: the text an
agent gets, the expected answer and the rule (``checker``) the judge applies.
Generators are deterministic for a given seed, so a run can be replayed and
every agent's k-th attempt at a level gets the same task.

Generators:

- ``arithmetic``: integer arithmetic; more operands, larger numbers,
  multiplication and parentheses as the difficulty grows;
- ``strings``: reverse a word, count a letter, sort letters, drop the
  vowels; longer words as the difficulty grows.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .calculator import evaluate, format_number
from .judging import RuleMode

MAX_DIFFICULTY = 10


class GeneratorName(StrEnum):
    ARITHMETIC = "arithmetic"
    STRINGS = "strings"


@dataclass(frozen=True)
class CurriculumTask:
    text: str
    expected: str | None
    checker: RuleMode | None = None  # None: the judge's own rule

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.text, "expected": self.expected, "checker": self.checker and self.checker.value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CurriculumTask:
        expected = data.get("expected")
        return cls(
            text=str(data["task"]),
            expected=None if expected is None else str(expected),
            checker=RuleMode(data["checker"]) if data.get("checker") else None,
        )


def arithmetic_task(difficulty: int, rng: random.Random) -> CurriculumTask:
    """Difficulty 1: a + b with one-digit numbers; each step adds digits, operators or operands."""
    operands = 2 + (difficulty - 1) // 2
    high = 10 ** (1 + difficulty // 2) - 1
    operators = ["+", "-"] if difficulty == 1 else ["+", "-", "*"]
    numbers = [rng.randint(1, high) for _ in range(operands)]
    parts = [str(numbers[0])]
    for number in numbers[1:]:
        parts += [rng.choice(operators), str(number)]
    expression = " ".join(parts)
    if difficulty >= 3:  # group the first two operands so precedence matters
        expression = f"({' '.join(parts[:3])}) {' '.join(parts[3:])}".strip()
    return CurriculumTask(f"What is {expression}?", format_number(evaluate(expression)), RuleMode.NUMERIC)


def _word(difficulty: int, rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(3 + 2 * difficulty))


def strings_task(difficulty: int, rng: random.Random) -> CurriculumTask:
    """One of four string chores on a word of 3 + 2 * difficulty letters (easier chores first)."""
    word = _word(difficulty, rng)
    chores = ["reverse", "count", "sort", "consonants"][: max(1, min(4, difficulty))]
    chore = rng.choice(chores)
    if chore == "reverse":
        return CurriculumTask(f"Reverse the string '{word}'. Reply with the result only.", word[::-1], RuleMode.EXACT)
    if chore == "count":
        letter = rng.choice(word)
        return CurriculumTask(
            f"How many times does the letter '{letter}' occur in '{word}'?", str(word.count(letter)), RuleMode.NUMERIC
        )
    if chore == "sort":
        text = f"Sort the letters of '{word}' alphabetically. Reply with the result only."
        return CurriculumTask(text, "".join(sorted(word)), RuleMode.EXACT)
    kept = "".join(c for c in word if c not in "aeiou") or "(empty)"
    return CurriculumTask(f"Remove every vowel from '{word}'. Reply with the result only.", kept, RuleMode.EXACT)


GENERATORS: dict[str, Callable[[int, random.Random], CurriculumTask]] = {
    GeneratorName.ARITHMETIC: arithmetic_task,
    GeneratorName.STRINGS: strings_task,
}


def generate(name: str, difficulty: int, seed: str) -> CurriculumTask:
    """The task generator ``name`` makes at ``difficulty`` (clamped to 1..10) for ``seed``."""
    return GENERATORS[name](max(1, min(MAX_DIFFICULTY, difficulty)), random.Random(seed))


@dataclass(frozen=True)
class TaskSource:
    """Where a level's tasks come from: a generator, or an inline dataset slice taken in order."""

    generator: str | None = None
    dataset: tuple[CurriculumTask, ...] = ()

    def task(self, *, difficulty: int, seed: int, level: int, index: int) -> CurriculumTask:
        """The ``index``-th task (from 0) of ``level`` for an agent: the same for every agent."""
        if self.generator is not None:
            return generate(self.generator, difficulty, f"{seed}:{level}:{index}")
        return self.dataset[index % len(self.dataset)]

    def describe(self) -> str:
        return self.generator or f"dataset ({len(self.dataset)} tasks)"


def parse_source(raw: Any, where: str, error: Callable[[str, str], None], *, needs_expected: bool) -> TaskSource:
    """Validate a level's ``source``: ``"arithmetic"``, ``{"generator": ...}`` or
    ``{"dataset": [{task, expected, checker}, ...]}``. Problems go to ``error(key, message)``."""
    if isinstance(raw, str):
        raw = {"generator": raw}
    if (
        not isinstance(raw, Mapping)
        or len(set(raw) & {"generator", "dataset"}) != 1
        or set(raw) - {"generator", "dataset"}
    ):
        error(where, 'A source is {"generator": name} or {"dataset": [{task, expected, checker}, ...]}.')
        return TaskSource(generator=GeneratorName.ARITHMETIC)
    if "generator" in raw:
        if raw["generator"] not in GENERATORS:
            error(f"{where}.generator", f"Must be one of: {', '.join(GENERATORS)}.")
            return TaskSource(generator=GeneratorName.ARITHMETIC)
        return TaskSource(generator=str(raw["generator"]))
    items = raw["dataset"]
    if not isinstance(items, list) or not 1 <= len(items) <= 1000:
        error(f"{where}.dataset", "A list of 1 to 1000 {task, expected, checker} objects.")
        return TaskSource(generator=GeneratorName.ARITHMETIC)
    tasks = [_parse_item(item, f"{where}.dataset[{i}]", error, needs_expected) for i, item in enumerate(items)]
    valid = tuple(t for t in tasks if t is not None)
    return TaskSource(dataset=valid) if valid else TaskSource(generator=GeneratorName.ARITHMETIC)


def _parse_item(
    item: Any, where: str, error: Callable[[str, str], None], needs_expected: bool
) -> CurriculumTask | None:
    if not isinstance(item, Mapping) or not isinstance(item.get("task"), str) or not item["task"].strip():
        error(where, "Each item is {task, expected, checker} with a non-empty task.")
        return None
    if set(item) - {"task", "expected", "checker"}:
        error(where, "Only task, expected and checker.")
    expected = item.get("expected")
    if expected is not None and (isinstance(expected, bool) or not isinstance(expected, str | int | float)):
        error(f"{where}.expected", "Must be a string or a number.")
        expected = None
    if expected is None and needs_expected:
        error(f"{where}.expected", "The rule judge needs an expected answer.")
    checker = item.get("checker")
    if checker is not None and checker not in tuple(RuleMode):
        error(f"{where}.checker", f"Must be one of: {', '.join(RuleMode)}.")
        checker = None
    return CurriculumTask(item["task"], None if expected is None else str(expected), checker and RuleMode(checker))


def default_reward(index: int) -> float:
    """Level ``index`` (from 0) pays 0.5, 1, 2, 5, then doubles."""
    table: Sequence[float] = (0.5, 1.0, 2.0, 5.0)
    return table[index] if index < len(table) else table[-1] * 2 ** (index - len(table) + 1)


def default_setback(index: int) -> int:
    """How many levels a fail at level ``index`` (from 0) sends an agent back: 0 (retry), 1, 2, then 3."""
    return min(index, 3)
