"""Training datasets uploaded as JSONL.

One JSON object per line::

    {"task": "What is 17 * 3?", "expected": "51", "checker": "numeric", "tolerance": 0.01, "family": "math"}
    {"task": "Name the capital of Peru", "expected": "Lima", "checker": "contains"}
    {"task": "Summarise ...", "expected": "mentions the deadline", "checker": "judge", "judge": "reviewer"}

``checker`` is one of exact, numeric (``tolerance``, default 1e-6), contains,
regex (``expected`` is the pattern), or judge (``judge`` names an agent of the
swarm that answers whether the output meets ``expected``). Blank lines and
lines starting with ``#`` are skipped. Every problem is reported with its line
number; a file with any problem is rejected whole.
"""

from __future__ import annotations

import json
import re
from typing import Any

from apps.core.errors import FieldsError

CHECKERS = ("exact", "numeric", "contains", "regex", "judge")
MAX_TASKS = 50_000
MAX_PROBLEMS_SHOWN = 20


def parse_jsonl(text: str) -> list[dict[str, Any]]:
    """Parse and validate a dataset; raise ``FieldsError`` (field ``tasks``) listing bad lines."""
    tasks: list[dict[str, Any]] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {number}: not valid JSON ({exc.msg})")
            continue
        task, errors = _validate(raw)
        problems.extend(f"line {number}: {error}" for error in errors)
        if task is not None:
            tasks.append(task)
    if not tasks and not problems:
        problems.append("the file holds no tasks")
    if len(tasks) > MAX_TASKS:
        problems.append(f"at most {MAX_TASKS} tasks per dataset (got {len(tasks)})")
    if problems:
        shown = problems[:MAX_PROBLEMS_SHOWN]
        if len(problems) > len(shown):
            shown.append(f"... and {len(problems) - len(shown)} more problems")
        raise FieldsError("The dataset has problems; nothing was saved.", fields={"tasks": shown})
    return tasks


def _validate(raw: Any) -> tuple[dict[str, Any] | None, list[str]]:
    if not isinstance(raw, dict):
        return None, ["each line must be a JSON object"]
    errors: list[str] = []
    task = raw.get("task")
    if not isinstance(task, str) or not task.strip():
        errors.append('"task" must be a non-empty string')
    expected = raw.get("expected")
    if isinstance(expected, bool) or not isinstance(expected, str | int | float) or str(expected).strip() == "":
        errors.append('"expected" must be a non-empty string or a number')
    checker = raw.get("checker", "exact")
    if checker not in CHECKERS:
        errors.append(f'"checker" must be one of {", ".join(CHECKERS)}')
    tolerance = raw.get("tolerance", 1e-6)
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or tolerance < 0:
        errors.append('"tolerance" must be a number >= 0')
    judge = raw.get("judge")
    if checker == "judge" and (not isinstance(judge, str) or not judge.strip()):
        errors.append('a "judge" checker needs "judge": the name of the judging agent')
    if checker == "regex" and isinstance(expected, str):
        try:
            re.compile(expected)
        except re.error as exc:
            errors.append(f'"expected" is not a valid regular expression ({exc})')
    family = raw.get("family", "")
    if not isinstance(family, str):
        errors.append('"family" must be a string')
    unknown = sorted(set(raw) - {"task", "expected", "checker", "tolerance", "judge", "family", "id"})
    if unknown:
        errors.append(f"unknown keys: {', '.join(unknown)}")
    if errors:
        return None, errors
    cleaned: dict[str, Any] = {
        "task": task.strip(),
        "expected": str(expected),
        "checker": checker,
        "tolerance": float(tolerance),
        "family": family or checker,
    }
    if checker == "judge":
        cleaned["judge"] = judge.strip()
    if "id" in raw:
        cleaned["id"] = str(raw["id"])
    return cleaned, []


def judges_named(tasks: list[dict[str, Any]]) -> set[str]:
    return {task["judge"] for task in tasks if task.get("checker") == "judge"}
