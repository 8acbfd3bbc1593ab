"""Seeded task generators for the routing benchmark, with a held-out test split.

Six families: ``arithmetic``, ``conversion``, ``text`` (one skill each), ``lookup``
(the retriever), and two multi-hop families that need two agents in order,
``lookup_compute`` (retriever, then calculator) and ``lookup_convert`` (retriever,
then converter). The test split uses entities, numbers and words that never
appear in the training split, so a test task is never a training task reworded.
Ground truth is computed from the generator's own parameters, never by a skill.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ...calculator import format_number
from ..environment import Checker, Task
from .skills import KNOWLEDGE_BASE, convert_value

FAMILIES = ("arithmetic", "conversion", "text", "lookup", "lookup_compute", "lookup_convert")
EXACT = Checker("exact")
NUMERIC = Checker("numeric", tolerance=1e-6)
CONVERTED = Checker("numeric", tolerance=1e-4)  # the converter rounds to 4 decimals

WORDS = [
    "apple",
    "anchor",
    "badge",
    "bamboo",
    "candle",
    "canyon",
    "cedar",
    "cobalt",
    "dancer",
    "denim",
    "eagle",
    "ember",
    "falcon",
    "fossil",
    "garnet",
    "glacier",
    "harbor",
    "hazel",
    "igloo",
    "indigo",
    "jasper",
    "jungle",
    "kettle",
    "lantern",
    "lemon",
    "magnet",
    "maple",
    "meadow",
    "nectar",
    "nickel",
    "oyster",
    "orbit",
    "pebble",
    "pepper",
    "quartz",
    "quill",
    "radish",
    "raven",
    "saddle",
    "salmon",
    "timber",
    "tulip",
    "umber",
    "velvet",
    "violet",
    "walnut",
    "willow",
    "yarrow",
    "zephyr",
    "basil",
    "bronze",
    "copper",
    "daisy",
    "ginger",
    "hollow",
    "marble",
    "onion",
    "pillow",
    "ribbon",
    "silver",
    "thistle",
    "tiger",
    "walrus",
]
UNIT_WORDS = {
    "km": ("km", "kilometres"),
    "m": ("m", "metres"),
    "miles": ("miles",),
    "feet": ("feet",),
    "kg": ("kg", "kilograms"),
    "g": ("grams",),
    "pounds": ("pounds",),
    "litres": ("litres",),
    "gallons": ("gallons",),
    "sq km": ("square kilometres",),
    "sq mi": ("square miles",),
    "celsius": ("degrees Celsius",),
    "fahrenheit": ("degrees Fahrenheit",),
}
CONVERSIONS = (
    ("km", "miles"),
    ("miles", "km"),
    ("m", "feet"),
    ("feet", "m"),
    ("kg", "pounds"),
    ("pounds", "kg"),
    ("g", "kg"),
    ("litres", "gallons"),
    ("gallons", "litres"),
    ("sq km", "sq mi"),
    ("celsius", "fahrenheit"),
    ("fahrenheit", "celsius"),
)


@dataclass
class Pools:
    """What one split may draw from (disjoint between train and test)."""

    countries: list[dict]
    mountains: list[dict]
    rivers: list[dict]
    operands: list[int]
    quantities: list[int]
    factors: list[int]
    words: list[str]


def split_pools(seed: int, test_share: float = 0.3, path: Path = KNOWLEDGE_BASE) -> tuple[Pools, Pools]:
    rng = random.Random(f"pools-{seed}")
    entities = json.loads(path.read_text())["entities"]

    def halves(items: Sequence) -> tuple[list, list]:
        items = list(items)
        rng.shuffle(items)
        cut = max(1, round(len(items) * test_share))
        return items[cut:], items[:cut]

    parts = [halves([e for e in entities if e["kind"] == kind]) for kind in ("country", "mountain", "river")] + [
        halves(range(2, 100)),
        halves(range(1, 500)),
        halves(range(2, 60)),
        halves(WORDS),
    ]
    return Pools(*(p[0] for p in parts)), Pools(*(p[1] for p in parts))


Maker = Callable[[random.Random, Pools], tuple[str, str, Checker]]


def _arithmetic(rng: random.Random, p: Pools) -> tuple[str, str, Checker]:
    a, b, c = (rng.choice(p.operands) for _ in range(3))
    text, value = rng.choice(
        [
            (f"What is {a} * {b} + {c}?", a * b + c),
            (f"Compute ({a} - {b}) * {c}.", (a - b) * c),
            (f"Calculate {a} / {b} + {c}.", a / b + c),
            (f"What is {a} + {b} * {c}?", a + b * c),
            (f"Evaluate {a}^2 - {b}.", a**2 - b),
            (f"How much is {a} * {b} - {c}?", a * b - c),
        ]
    )
    return text, format_number(value), NUMERIC


def _conversion(rng: random.Random, p: Pools) -> tuple[str, str, Checker]:
    source, target = rng.choice(CONVERSIONS)
    value = rng.choice(p.quantities)
    if rng.random() < 0.3:
        value = value + rng.choice((0.25, 0.5, 0.75))
    s, t = rng.choice(UNIT_WORDS[source]), rng.choice(UNIT_WORDS[target])
    shown = format_number(value)
    text = rng.choice(
        [f"Convert {shown} {s} to {t}.", f"What is {shown} {s} in {t}?", f"How many {t} are in {shown} {s}?"]
    )
    return text, repr(convert_value(value, source, target)), CONVERTED


def _text(rng: random.Random, p: Pools) -> tuple[str, str, Checker]:
    words = rng.sample(p.words, rng.randint(3, 6))
    listed = ", ".join(words)
    word = words[0]
    return rng.choice(
        [
            (f"Sort these words alphabetically: {listed}.", ", ".join(sorted(words)), EXACT),
            (f"Reverse the word '{word}'.", word[::-1], EXACT),
            (f"How many items are in this list: {listed}?", str(len(words)), NUMERIC),
            (f"Join these words with hyphens: {listed}.", "-".join(words), EXACT),
            (f"What is the last item in this list: {listed}?", words[-1], EXACT),
            (f"How many letters are in the word '{word}'?", str(len(word)), NUMERIC),
        ]
    )


def _lookup(rng: random.Random, p: Pools) -> tuple[str, str, Checker]:
    kind = rng.choice(("country", "country", "country", "mountain", "river"))
    if kind == "country":
        e = rng.choice(p.countries)
        name, f = e["name"], e["facts"]
        return rng.choice(
            [
                (f"What is the capital of {name}?", f["capital"], EXACT),
                (f"Which city is the capital of {name}?", f["capital"], EXACT),
                (f"What is the population of {name}?", str(f["population"]), NUMERIC),
                (f"How many people live in {name}?", str(f["population"]), NUMERIC),
                (f"What is the area of {name}?", str(f["area_sq_km"]), NUMERIC),
                (f"How big is {name} in area?", str(f["area_sq_km"]), NUMERIC),
                (f"In which year was {name} founded?", str(f["founded"]), NUMERIC),
                (f"When was {name} founded?", str(f["founded"]), NUMERIC),
                (f"What currency is used in {name}?", f["currency"], EXACT),
                (f"What is the currency of {name}?", f["currency"], EXACT),
            ]
        )
    if kind == "mountain":
        e = rng.choice(p.mountains)
        name, f = e["name"], e["facts"]
        return rng.choice(
            [
                (f"How tall is {name}?", str(f["height_m"]), NUMERIC),
                (f"What is the height of {name}?", str(f["height_m"]), NUMERIC),
                (f"What is the elevation of {name}?", str(f["height_m"]), NUMERIC),
                (f"In which country is {name}?", f["country"], EXACT),
            ]
        )
    e = rng.choice(p.rivers)
    text = rng.choice((f"How long is the {e['name']}?", f"What is the length of the {e['name']}?"))
    return text, str(e["facts"]["length_km"]), NUMERIC


def _lookup_compute(rng: random.Random, p: Pools) -> tuple[str, str, Checker]:
    n = rng.choice(p.factors)
    c, m, r = rng.choice(p.countries), rng.choice(p.mountains), rng.choice(p.rivers)
    text, value = rng.choice(
        [
            (f"What is the population of {c['name']} multiplied by {n}?", c["facts"]["population"] * n),
            (f"What is the area of {c['name']} divided by {n}?", c["facts"]["area_sq_km"] / n),
            (f"What is the founding year of {c['name']} plus {n}?", c["facts"]["founded"] + n),
            (f"What is the height of {m['name']} minus {n}?", m["facts"]["height_m"] - n),
            (f"What is the length of the {r['name']} multiplied by {n}?", r["facts"]["length_km"] * n),
        ]
    )
    return text, format_number(value), NUMERIC


def _lookup_convert(rng: random.Random, p: Pools) -> tuple[str, str, Checker]:
    c, m, r = rng.choice(p.countries), rng.choice(p.mountains), rng.choice(p.rivers)
    height, length, area = m["facts"]["height_m"], r["facts"]["length_km"], c["facts"]["area_sq_km"]
    text, value = rng.choice(
        [
            (f"What is the height of {m['name']} in feet?", convert_value(height, "m", "feet")),
            (f"How tall is {m['name']} in feet?", convert_value(height, "m", "feet")),
            (f"What is the elevation of {m['name']} in miles?", convert_value(height, "m", "miles")),
            (f"What is the height of {m['name']} in kilometres?", convert_value(height, "m", "km")),
            (f"How long is the {r['name']} in miles?", convert_value(length, "km", "miles")),
            (f"What is the length of the {r['name']} in metres?", convert_value(length, "km", "m")),
            (f"How long is the {r['name']} in feet?", convert_value(length, "km", "feet")),
            (f"What is the area of {c['name']} in square miles?", convert_value(area, "sq km", "sq mi")),
            (f"How large is {c['name']} in square miles?", convert_value(area, "sq km", "sq mi")),
        ]
    )
    return text, repr(value), CONVERTED


MAKERS: dict[str, Maker] = {
    "arithmetic": _arithmetic,
    "conversion": _conversion,
    "text": _text,
    "lookup": _lookup,
    "lookup_compute": _lookup_compute,
    "lookup_convert": _lookup_convert,
}


def generate(
    n: int, pools: Pools, *, seed: int, split: str, exclude: set[str] | None = None, families: Sequence[str] = FAMILIES
) -> list[Task]:
    """``n`` distinct tasks, families in equal shares (round robin), none of whose texts is in ``exclude``."""
    rng = random.Random(f"{split}-{seed}")
    seen = set(exclude or ())
    tasks: list[Task] = []
    attempts = 0
    while len(tasks) < n:
        attempts += 1
        if attempts > 50 * n + 1000:
            raise ValueError(f"Cannot draw {n} distinct {split} tasks from these pools.")
        family = families[len(tasks) % len(families)]
        text, expected, checker = MAKERS[family](rng, pools)
        if text in seen:
            continue
        seen.add(text)
        tasks.append(Task(text, expected, checker, family=family, id=f"{split}-{len(tasks):05d}"))
    return tasks
