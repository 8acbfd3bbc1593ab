"""The benchmark's skill agents: real, deterministic, each competent on a few task families.

A skill reads the task text and the latest usable output of the episode (what
the previous agent handed over) and returns its answer, or raises
:class:`SkillFailure` when the task is not something it can do. None of them
sees the expected answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...calculator import CalculationError, evaluate_in_text, format_number
from ...judging import last_number
from ..features import TextEmbedder

KNOWLEDGE_BASE = Path(__file__).with_name("knowledge_base.json")

Skill = Callable[[str, str | None], str]
"""(task text, latest usable output or None) -> answer; raises SkillFailure."""


class SkillFailure(Exception):
    """The skill cannot do this task (the agent reports an error, not a wrong answer)."""


_NUM = r"[-+]?\d+(?:\.\d+)?"


# -- arithmetic -----------------------------------------------------------------------

_OPERATION_ON_PREVIOUS = re.compile(rf"\b(multiplied by|divided by|plus|minus)\s+({_NUM})\b", re.IGNORECASE)
_APPLY = {
    "multiplied by": lambda a, b: a * b,
    "divided by": lambda a, b: a / b,
    "plus": lambda a, b: a + b,
    "minus": lambda a, b: a - b,
}


def calculate(task: str, previous: str | None) -> str:
    """Evaluate the arithmetic in the task, or apply "multiplied by 3" (etc.) to the previous number."""
    operation = _OPERATION_ON_PREVIOUS.search(task)
    if operation:
        value = last_number(previous) if previous is not None else None
        if value is None:
            raise SkillFailure("There is no earlier number to operate on.")
        return format_number(_APPLY[operation.group(1).lower()](value, float(operation.group(2))))
    try:
        return format_number(evaluate_in_text(task))
    except CalculationError as exc:
        raise SkillFailure(str(exc)) from None


# -- unit conversion ------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    symbol: str
    dimension: str
    factor: float  # to the dimension's base unit
    offset: float = 0.0  # temperatures: base = value * factor + offset


UNITS: dict[str, Unit] = {
    u.symbol: u
    for u in (
        Unit("km", "length", 1000.0),
        Unit("m", "length", 1.0),
        Unit("miles", "length", 1609.344),
        Unit("feet", "length", 0.3048),
        Unit("kg", "mass", 1.0),
        Unit("g", "mass", 0.001),
        Unit("pounds", "mass", 0.45359237),
        Unit("litres", "volume", 1.0),
        Unit("gallons", "volume", 3.785411784),
        Unit("sq km", "area", 1.0),
        Unit("sq mi", "area", 2.589988110336),
        Unit("celsius", "temperature", 1.0),
        Unit("fahrenheit", "temperature", 5 / 9, -32 * 5 / 9),
    )
}
ALIASES: dict[str, str] = {
    "km": "km",
    "kilometres": "km",
    "kilometers": "km",
    "m": "m",
    "metres": "m",
    "meters": "m",
    "miles": "miles",
    "mi": "miles",
    "feet": "feet",
    "ft": "feet",
    "kg": "kg",
    "kilograms": "kg",
    "g": "g",
    "grams": "g",
    "pounds": "pounds",
    "lb": "pounds",
    "litres": "litres",
    "liters": "litres",
    "gallons": "gallons",
    "sq km": "sq km",
    "square kilometres": "sq km",
    "sq mi": "sq mi",
    "square miles": "sq mi",
    "celsius": "celsius",
    "degrees celsius": "celsius",
    "fahrenheit": "fahrenheit",
    "degrees fahrenheit": "fahrenheit",
}
_UNIT = "(" + "|".join(re.escape(a) for a in sorted(ALIASES, key=len, reverse=True)) + ")"
_EXPLICIT = [
    re.compile(rf"({_NUM})\s*{_UNIT}\s+(?:to|in|into)\s+{_UNIT}\b", re.IGNORECASE),
    re.compile(rf"how many {_UNIT} (?:are )?(?:in|is) ({_NUM})\s*{_UNIT}\b", re.IGNORECASE),
]
_TARGET_ONLY = re.compile(rf"\bin {_UNIT}\s*\??\.?$", re.IGNORECASE)
_QUANTITY = re.compile(rf"({_NUM})\s*{_UNIT}\b", re.IGNORECASE)


def convert_value(value: float, source: str, target: str) -> float:
    a, b = UNITS[source], UNITS[target]
    if a.dimension != b.dimension:
        raise SkillFailure(f"Cannot convert {a.symbol} to {b.symbol}.")
    base = value * a.factor + a.offset
    return (base - b.offset) / b.factor


def _unit(alias: str) -> str:
    return ALIASES[alias.lower()]


def convert(task: str, previous: str | None) -> str:
    """Convert "12 km to miles" (etc.), or the previous output's quantity to the unit the task asks for."""
    first, second = _EXPLICIT
    if match := first.search(task):
        value, source, target = float(match.group(1)), _unit(match.group(2)), _unit(match.group(3))
    elif match := second.search(task):
        value, source, target = float(match.group(2)), _unit(match.group(3)), _unit(match.group(1))
    elif (match := _TARGET_ONLY.search(task)) and previous is not None and (quantity := _QUANTITY.search(previous)):
        value, source, target = float(quantity.group(1)), _unit(quantity.group(2)), _unit(match.group(1))
    else:
        raise SkillFailure("No quantity and target unit to convert.")
    return f"{format_number(round(convert_value(value, source, target), 4))} {target}"


# -- lists and strings ----------------------------------------------------------------

_QUOTED = r"'([^']+)'"
_LIST = r":\s*(.+?)[.?]?$"


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


_TEXT_OPERATIONS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"sort (?:these|the) words alphabetically" + _LIST, re.I), lambda m: ", ".join(sorted(_items(m[1])))),
    (re.compile(r"reverse the word " + _QUOTED, re.I), lambda m: m[1][::-1]),
    (re.compile(r"how many items are in (?:this|the) list" + _LIST, re.I), lambda m: str(len(_items(m[1])))),
    (re.compile(r"join these words with hyphens" + _LIST, re.I), lambda m: "-".join(_items(m[1]))),
    (re.compile(r"what is the last item (?:in|of) (?:this|the) list" + _LIST, re.I), lambda m: _items(m[1])[-1]),
    (re.compile(r"how many letters are in the word " + _QUOTED, re.I), lambda m: str(len(m[1]))),
]


def text_tools(task: str, previous: str | None) -> str:
    """Sort, reverse, count, join and pick list items and words."""
    for pattern, operation in _TEXT_OPERATIONS:
        if match := pattern.search(task.strip()):
            return operation(match)
    raise SkillFailure("Not a list or string operation I know.")


# -- fact lookup ----------------------------------------------------------------------


@dataclass(frozen=True)
class Fact:
    entity: str
    attribute: str
    value: str
    text: str


ATTRIBUTE_PHRASES = {
    "capital": "the capital city of {e}",
    "population": "the population of {e}, number of inhabitants, people living in {e}",
    "area_sq_km": "the area of {e} in square kilometres, how large {e} is",
    "founded": "the year {e} was founded, founding year of {e}",
    "currency": "the currency used in {e}, money of {e}",
    "height_m": "the height of {e} in metres, how tall {e} is",
    "country": "the country where {e} is located, which country {e} is in",
    "length_km": "the length of the {e} in kilometres, how long the {e} is",
}
UNIT_OF = {"area_sq_km": "sq km", "height_m": "m", "length_km": "km"}


def load_facts(path: Path = KNOWLEDGE_BASE) -> list[Fact]:
    data = json.loads(path.read_text())
    facts = []
    for entity in data["entities"]:
        for attribute, value in entity["facts"].items():
            shown = f"{value} {UNIT_OF[attribute]}" if attribute in UNIT_OF else str(value)
            facts.append(Fact(entity["name"], attribute, shown, ATTRIBUTE_PHRASES[attribute].format(e=entity["name"])))
    return facts


class Retriever:
    """Answers a question from the knowledge base by embedding search.

    The question is compared (cosine of sentence embeddings) with every fact about
    an entity the question names; the best fact's value is the answer. A question
    naming no known entity gets an empty answer rather than a guess.
    """

    def __init__(self, facts: Sequence[Fact], embedder: TextEmbedder) -> None:
        self.facts = list(facts)
        self.embedder = embedder
        self.vectors = np.asarray(embedder.embed([f.text for f in self.facts]), dtype=np.float32)
        names = sorted({f.entity for f in self.facts}, key=len, reverse=True)
        self._entity = re.compile(r"\b(" + "|".join(re.escape(n) for n in names) + r")\b")
        self._by_entity: dict[str, list[int]] = {}
        for i, fact in enumerate(self.facts):
            self._by_entity.setdefault(fact.entity, []).append(i)

    def entities_in(self, text: str) -> list[str]:
        """The knowledge base's entities that ``text`` names, in order, once each."""
        return list(dict.fromkeys(self._entity.findall(text)))

    def best_fact(self, question: str) -> Fact | None:
        candidates = [i for e in self.entities_in(question) for i in self._by_entity[e]]
        if not candidates:
            return None
        query = np.asarray(self.embedder.embed([question]), dtype=np.float32)[0]
        scores = self.vectors[candidates] @ query
        return self.facts[candidates[int(np.argmax(scores))]]

    def __call__(self, task: str, previous: str | None) -> str:
        fact = self.best_fact(task)
        return "" if fact is None else fact.value


# -- the generalist -------------------------------------------------------------------


def generalist(retriever: Retriever) -> Skill:
    """The strong, costly agent: tries every skill and skill pair, keeps the first that works."""

    def solve(task: str, previous: str | None) -> str:
        for skill in (text_tools, convert, calculate):
            try:
                return skill(task, None)
            except SkillFailure:
                pass
        fact = retriever(task, None)
        if not fact:
            raise SkillFailure("Nothing I know applies.")
        for follow_up in (calculate, convert):
            try:
                return follow_up(task, fact)
            except SkillFailure:
                pass
        return fact

    return solve
