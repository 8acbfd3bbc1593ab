"""Rule checks: compare an answer with an expected value.

Used by the ``judge`` skill now and by the judges of competitive strategies.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum

from .errors import ConfigError

_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


class RuleMode(StrEnum):
    EXACT = "exact"
    NUMERIC = "numeric"
    CONTAINS = "contains"
    REGEX = "regex"


@dataclass(frozen=True)
class RuleVerdict:
    passed: bool
    reason: str

    @property
    def score(self) -> float:
        return 1.0 if self.passed else 0.0


def last_number(text: str) -> float | None:
    """The last number written in ``text`` (answers usually end with it), or None."""
    matches = _NUMBER.findall(text.replace(",", ""))
    return float(matches[-1]) if matches else None


def check(
    mode: RuleMode, answer: str, expected: str, *, case_sensitive: bool = False, tolerance: float = 1e-6
) -> RuleVerdict:
    """Judge ``answer`` against ``expected`` with one rule."""
    if mode is RuleMode.NUMERIC:
        want = last_number(expected)
        if want is None:
            raise ConfigError(f"Expected value {expected!r} is not a number.")
        got = last_number(answer)
        if got is None:
            return RuleVerdict(False, "no number in the answer")
        ok = math.isclose(got, want, rel_tol=tolerance, abs_tol=tolerance)
        return RuleVerdict(ok, f"{got:g} {'==' if ok else '!='} {want:g}")
    if mode is RuleMode.REGEX:
        try:
            pattern = re.compile(expected, 0 if case_sensitive else re.IGNORECASE)
        except re.error as exc:
            raise ConfigError(f"Invalid regular expression: {exc}") from None
        ok = pattern.search(answer) is not None
        return RuleVerdict(ok, f"pattern {'found' if ok else 'not found'}")
    a, e = (answer.strip(), expected.strip()) if case_sensitive else (answer.strip().lower(), expected.strip().lower())
    if mode is RuleMode.EXACT:
        ok = a == e
        return RuleVerdict(ok, "exact match" if ok else f"expected {expected.strip()!r}")
    ok = e in a
    return RuleVerdict(ok, f"{expected.strip()!r} {'found' if ok else 'not found'} in the answer")
