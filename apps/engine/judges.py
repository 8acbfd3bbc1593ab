"""Judges: given a task and submissions, decide a winner (or a tie).

Shared by the competitive strategies (ORC trials, SAO levels, FORGE critics).
A verdict names the winner (``None`` for a tie), a score per submission in
[0, 1], the reasoning and a confidence.

Kinds:

- ``rule``: each submission checked against an expected answer with one of
  the rules of :mod:`judging` (exact, numeric, contains, regex);
- ``metrics``: a weighted sum of accuracy (the rule check, or "did it answer"
  without an expected value), latency and cost, both lower-is-better and
  scaled against the best submission;
- ``llm``: an agent is asked to reply with JSON. The judge itself is an agent
  step, so strategies drive it through ``JudgeSession``; a malformed
  reply is asked again up to ``retries`` times, then counted as a tie with
  the reason recorded;
- ``consensus``: several judges; the winner most of them name wins, ties
  broken deterministically (highest mean score, then submission order).

Everything here is pure. Strategies drive a judge (LLM judges included)
through :class:`apps.engine.strategies.judge_steps.JudgeSession`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .errors import ConfigError, EngineError, StrategyConfigError
from .judging import RuleMode, check


class JudgeKind(StrEnum):
    RULE = "rule"
    METRICS = "metrics"
    LLM = "llm"
    CONSENSUS = "consensus"


class JudgeReplyError(EngineError):
    """An LLM judge's reply could not be read as a verdict."""


@dataclass(frozen=True)
class Submission:
    """One candidate answer. ``ok`` is False when its agent failed (it cannot win)."""

    id: str
    content: str
    ok: bool = True
    latency_ms: int = 0
    cost: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "content": self.content, "ok": self.ok, "latency_ms": self.latency_ms, "cost": self.cost}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Submission:
        return cls(
            id=str(data["id"]),
            content=str(data.get("content", "")),
            ok=bool(data.get("ok", True)),
            latency_ms=int(data.get("latency_ms", 0)),
            cost=float(data.get("cost", 0.0)),
        )


@dataclass(frozen=True)
class Verdict:
    winner: str | None  # None: a tie
    scores: dict[str, float]
    reasoning: str
    confidence: float = 1.0
    judge: str = ""
    parts: tuple[Verdict, ...] = ()  # a consensus judge keeps its judges' verdicts

    @property
    def tie(self) -> bool:
        return self.winner is None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "winner": self.winner,
            "scores": dict(self.scores),
            "reasoning": self.reasoning,
            "confidence": round(self.confidence, 4),
            "judge": self.judge,
        }
        if self.parts:
            data["parts"] = [p.to_dict() for p in self.parts]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        return cls(
            winner=data.get("winner"),
            scores={str(k): float(v) for k, v in (data.get("scores") or {}).items()},
            reasoning=str(data.get("reasoning", "")),
            confidence=float(data.get("confidence", 1.0)),
            judge=str(data.get("judge", "")),
            parts=tuple(cls.from_dict(p) for p in data.get("parts", ())),
        )


def verdict_from_scores(
    scores: Mapping[str, float],
    submissions: Sequence[Submission],
    *,
    reasoning: str,
    judge: str,
    eps: float = 1e-9,
) -> Verdict:
    """The best-scoring submission wins if it did not fail and scored strictly above every
    other (a failed submission scores 0); equal best scores are a tie."""
    if not any(s.ok for s in submissions):
        return Verdict(None, dict(scores), f"{reasoning} No submission succeeded.", 0.0, judge)
    points = {s.id: scores.get(s.id, 0.0) if s.ok else 0.0 for s in submissions}
    best = max(points.values())
    leaders = [i for i, p in points.items() if abs(p - best) <= eps]
    if len(leaders) > 1:
        return Verdict(None, dict(scores), f"{reasoning} Tie between {', '.join(leaders)}.", 1.0, judge)
    others = [p for i, p in points.items() if i != leaders[0]]
    margin = best - max(others) if others else best
    return Verdict(leaders[0], dict(scores), reasoning, max(0.0, min(1.0, margin)), judge)


# ---- judges computed in the engine -------------------------------------------------------


@dataclass(frozen=True)
class RuleJudge:
    mode: RuleMode = RuleMode.EXACT
    expected: str | None = None  # None: the expected answer comes with the task
    case_sensitive: bool = False
    tolerance: float = 1e-6
    kind: JudgeKind = JudgeKind.RULE

    def score_one(self, content: str, expected: str | None) -> tuple[float, str]:
        want = self.expected if self.expected is not None else expected
        if want is None:
            raise ConfigError("A rule judge needs an expected answer (in its config or with the task).")
        verdict = check(self.mode, content, want, case_sensitive=self.case_sensitive, tolerance=self.tolerance)
        return verdict.score, verdict.reason

    def judge(self, task: str, submissions: Sequence[Submission], *, expected: str | None = None) -> Verdict:
        scores: dict[str, float] = {}
        reasons: list[str] = []
        for sub in submissions:
            if not sub.ok:
                scores[sub.id] = 0.0
                reasons.append(f"{sub.id}: failed")
                continue
            scores[sub.id], reason = self.score_one(sub.content, expected)
            reasons.append(f"{sub.id}: {reason}")
        return verdict_from_scores(
            scores, submissions, reasoning=f"{self.mode.value} rule: " + "; ".join(reasons) + ".", judge="rule"
        )


@dataclass(frozen=True)
class MetricsJudge:
    accuracy: float = 1.0
    latency: float = 0.0
    cost: float = 0.0
    rule: RuleJudge | None = None  # accuracy by this rule; without one, 1 for any successful answer
    kind: JudgeKind = JudgeKind.METRICS

    def judge(self, task: str, submissions: Sequence[Submission], *, expected: str | None = None) -> Verdict:
        ok = [s for s in submissions if s.ok]
        fastest = min((max(1, s.latency_ms) for s in ok), default=1)
        cheapest = min((s.cost for s in ok), default=0.0)
        total = self.accuracy + self.latency + self.cost or 1.0
        scores: dict[str, float] = {}
        parts: list[str] = []
        for sub in submissions:
            if not sub.ok:
                scores[sub.id] = 0.0
                parts.append(f"{sub.id}: failed")
                continue
            if self.rule is not None and (self.rule.expected is not None or expected is not None):
                acc, _ = self.rule.score_one(sub.content, expected)
            else:
                acc = 1.0 if sub.content.strip() else 0.0
            speed = fastest / max(1, sub.latency_ms)
            thrift = 1.0 if sub.cost <= 0 else (cheapest / sub.cost if cheapest > 0 else 0.0)
            score = (self.accuracy * acc + self.latency * speed + self.cost * thrift) / total
            scores[sub.id] = round(score, 6)
            parts.append(f"{sub.id}: accuracy {acc:g}, speed {speed:.2f}, thrift {thrift:.2f}")
        return verdict_from_scores(scores, submissions, reasoning="Metrics: " + "; ".join(parts) + ".", judge="metrics")


# ---- the LLM judge: prompt and reply ---------------------------------------------------


@dataclass(frozen=True)
class LLMJudge:
    agent: str
    retries: int = 1
    kind: JudgeKind = JudgeKind.LLM

    @staticmethod
    def prompt(task: str, submissions: Sequence[Submission], *, expected: str | None = None, error: str = "") -> str:
        lines = ["You are judging answers to a task.", f"Task: {task}"]
        if expected is not None:
            lines.append(f"Reference answer: {expected}")
        for sub in submissions:
            body = sub.content if sub.ok else "(no answer: the agent failed)"
            lines += [f"--- Submission {sub.id} ---", body]
        lines.append(
            'Reply with JSON only: {"winner": "<submission id>" or null for a tie, '
            '"scores": {"<id>": 0..1, ...}, "reasoning": "...", "confidence": 0..1}'
        )
        if error:
            lines.append(f"Your previous reply could not be used: {error}")
        return "\n".join(lines)

    def parse(self, text: str, submissions: Sequence[Submission]) -> Verdict:
        """Read the agent's reply; raise ``JudgeReplyError`` if it is not a usable verdict."""
        try:
            data = json.loads(_json_block(text))
        except ValueError:
            raise JudgeReplyError("The reply is not JSON.") from None
        if not isinstance(data, Mapping):
            raise JudgeReplyError("The reply must be a JSON object.")
        ids = [s.id for s in submissions]
        winner = data.get("winner")
        if winner is not None and (not isinstance(winner, str) or winner not in ids):
            raise JudgeReplyError(f"'winner' must be one of {', '.join(ids)} or null.")
        raw_scores = data.get("scores", {})
        if not isinstance(raw_scores, Mapping):
            raise JudgeReplyError("'scores' must be an object of submission id -> number.")
        scores: dict[str, float] = {}
        for key, value in raw_scores.items():
            if key not in ids:
                raise JudgeReplyError(f"Unknown submission {key!r} in 'scores'.")
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise JudgeReplyError(f"The score of {key} must be a number from 0 to 1.")
            scores[key] = float(value)
        confidence = data.get("confidence", 0.5)
        if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
            raise JudgeReplyError("'confidence' must be a number from 0 to 1.")
        if winner is not None and not next(s for s in submissions if s.id == winner).ok:
            raise JudgeReplyError(f"{winner} failed and cannot win.")
        for sub in submissions:
            scores.setdefault(sub.id, 1.0 if sub.id == winner else 0.0)
        return Verdict(winner, scores, str(data.get("reasoning", "")), float(confidence), f"llm:{self.agent}")


def _json_block(text: str) -> str:
    match = re.search(r"```(?:json)?\s*\n(.*?)```", text, re.DOTALL)
    if match:
        return match.group(1)
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if 0 <= start < end else text.strip()


# ---- the consensus judge ------------------------------------------------------------------


@dataclass(frozen=True)
class ConsensusJudge:
    judges: tuple[Judge, ...]
    kind: JudgeKind = JudgeKind.CONSENSUS

    @staticmethod
    def combine(verdicts: Sequence[Verdict], submissions: Sequence[Submission]) -> Verdict:
        """Majority of the judges' winners (a tie is a vote for a tie); equal counts are
        broken by the highest mean score, then by submission order."""
        ids = [s.id for s in submissions]
        votes: dict[str | None, int] = {}
        for v in verdicts:
            votes[v.winner] = votes.get(v.winner, 0) + 1
        mean = {i: sum(v.scores.get(i, 0.0) for v in verdicts) / max(1, len(verdicts)) for i in ids}
        top = max(votes.values(), default=0)
        named = [w for w, n in votes.items() if n == top and w is not None]
        tally = ", ".join(f"{w or 'tie'}: {n}" for w, n in sorted(votes.items(), key=lambda kv: -kv[1]))
        if votes.get(None, 0) == top and not named:
            winner: str | None = None
            how = "most judges saw a tie"
        elif len(named) == 1 and votes.get(None, 0) < top:
            winner, how = named[0], "majority"
        else:
            # deterministic tiebreak between equally voted winners (or winners and "tie")
            candidates = named or ids
            winner = sorted(candidates, key=lambda i: (-mean.get(i, 0.0), ids.index(i)))[0]
            how = "tiebreak by mean score, then submission order"
        confidence = top / max(1, len(verdicts))
        reasoning = f"Consensus of {len(verdicts)} judges ({tally}): {how}."
        return Verdict(winner, mean, reasoning, confidence, "consensus", tuple(verdicts))


Judge = RuleJudge | MetricsJudge | LLMJudge | ConsensusJudge


# ---- config -----------------------------------------------------------------------------


JUDGE_KEYS = {
    JudgeKind.RULE: {"kind", "mode", "expected", "case_sensitive", "tolerance"},
    JudgeKind.METRICS: {"kind", "weights", "mode", "expected", "case_sensitive", "tolerance"},
    JudgeKind.LLM: {"kind", "agent", "retries"},
    JudgeKind.CONSENSUS: {"kind", "judges"},
}


def parse_judge(raw: Any, members: Sequence[str], *, where: str = "judge", depth: int = 0) -> Judge:
    """Validate a judge config; raise ``StrategyConfigError`` with every problem under ``where``."""
    errors: dict[str, list[str]] = {}
    judge = _parse_judge(raw, members, where, errors, depth)
    if errors or judge is None:
        raise StrategyConfigError("Invalid judge.", fields=errors or {where: ["Invalid judge."]})
    return judge


def _parse_judge(
    raw: Any, members: Sequence[str], where: str, errors: dict[str, list[str]], depth: int
) -> Judge | None:
    def error(key: str, message: str) -> None:
        errors.setdefault(key, []).append(message)

    if not isinstance(raw, Mapping):
        error(where, "A judge is an object with 'kind' (rule, metrics, llm or consensus).")
        return None
    try:
        kind = JudgeKind(raw.get("kind", JudgeKind.RULE))
    except ValueError:
        error(f"{where}.kind", f"Must be one of: {', '.join(JudgeKind)}.")
        return None
    unknown = set(raw) - JUDGE_KEYS[kind]
    if unknown:
        error(where, f"Unknown keys for a {kind.value} judge: {', '.join(sorted(unknown))}.")
    if kind in (JudgeKind.RULE, JudgeKind.METRICS):
        rule = _parse_rule(raw, where, error)
        if kind is JudgeKind.RULE:
            return rule
        weights = raw.get("weights", {"accuracy": 1.0})
        if not isinstance(weights, Mapping) or set(weights) - {"accuracy", "latency", "cost"}:
            error(f"{where}.weights", "An object with accuracy, latency and cost weights.")
            weights = {}
        values = {}
        for name in ("accuracy", "latency", "cost"):
            value = weights.get(name, 0.0)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                error(f"{where}.weights.{name}", "Must be a number of at least 0.")
                value = 0.0
            values[name] = float(value)
        if not any(values.values()) and isinstance(weights, Mapping) and weights:
            error(f"{where}.weights", "At least one weight must be above 0.")
        return MetricsJudge(**values, rule=rule if ("mode" in raw or "expected" in raw) else None) if values else None
    if kind is JudgeKind.LLM:
        agent = raw.get("agent")
        if agent not in members:
            error(f"{where}.agent", f"Unknown agent {agent!r}: not a member of this swarm.")
        retries = raw.get("retries", 1)
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 5:
            error(f"{where}.retries", "Must be a whole number from 0 to 5.")
            retries = 1
        return LLMJudge(agent=str(agent), retries=retries)
    if depth >= 1:
        error(where, "Consensus judges do not nest.")
        return None
    raw_judges = raw.get("judges")
    if not isinstance(raw_judges, list) or len(raw_judges) < 2:
        error(f"{where}.judges", "A consensus needs a list of at least two judges.")
        return None
    judges = [_parse_judge(j, members, f"{where}.judges[{i}]", errors, depth + 1) for i, j in enumerate(raw_judges)]
    return ConsensusJudge(tuple(j for j in judges if j is not None))


def _parse_rule(raw: Mapping[str, Any], where: str, error) -> RuleJudge:
    try:
        mode = RuleMode(raw.get("mode", RuleMode.EXACT))
    except ValueError:
        error(f"{where}.mode", f"Must be one of: {', '.join(RuleMode)}.")
        mode = RuleMode.EXACT
    expected = raw.get("expected")
    if expected is not None and not isinstance(expected, str | int | float):
        error(f"{where}.expected", "Must be a string or a number.")
        expected = None
    expected = str(expected) if expected is not None else None
    if expected is not None and mode is RuleMode.REGEX:
        try:
            re.compile(expected)
        except re.error as exc:
            error(f"{where}.expected", f"Invalid regular expression: {exc}")
    if expected is not None and mode is RuleMode.NUMERIC and not re.search(r"\d", expected):
        error(f"{where}.expected", "A numeric rule needs a number.")
    case_sensitive = raw.get("case_sensitive", False)
    if not isinstance(case_sensitive, bool):
        error(f"{where}.case_sensitive", "Must be true or false.")
        case_sensitive = False
    tolerance = raw.get("tolerance", 1e-6)
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or tolerance < 0:
        error(f"{where}.tolerance", "Must be a number of at least 0.")
        tolerance = 1e-6
    return RuleJudge(mode=mode, expected=expected, case_sensitive=case_sensitive, tolerance=float(tolerance))


def judge_agents(judge: Judge) -> list[str]:
    """Agents a judge asks (LLM judges), in order."""
    if isinstance(judge, LLMJudge):
        return [judge.agent]
    if isinstance(judge, ConsensusJudge):
        return [a for j in judge.judges for a in judge_agents(j)]
    return []
