"""FORGE: adversarial refinement. A generator drafts, critics score, the generator revises.

Each iteration the generator writes a draft (the first from the task, later
ones from the previous draft and every critique). Then every critic, in
parallel, returns a score in [0, 1] and a critique. A critic is an agent
(an LLM replying ``{"score": 0.7, "critique": "..."}``, a built-in ``judge``
skill whose pass/fail is the score, or any reply with ``score: 7/10``) or a
rule/metrics judge computed in the engine. A critic accepts a draft when its
score reaches its ``threshold``.

The run stops when every critic accepts, or after ``max_iterations`` with
the best-scoring draft (``on_cap: best``) or the last one (``on_cap: last``).
Every draft is kept in the state with its scores and critiques, and the run
page shows a diff between consecutive drafts.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .. import templating
from ..config import ConfigReader
from ..errors import ConfigError, EngineError, StrategyConfigError, StrategyError
from ..judges import JudgeKind, MetricsJudge, RuleJudge, Submission, parse_judge
from ..values import StepResult
from . import schema_parts as sp
from .base import Fact, Fail, Finish, MembersChanged, PostMessage, Progress, RunStep, StepFinished, Transition

DEFAULT_CRITIC_INPUT = (
    "Critique this draft for the task.\nTask: {{ task }}\n\nDraft {{ iteration }}:\n{{ draft }}\n\n"
    'Reply with JSON: {"score": <0..1>, "critique": "<what to improve>"}'
)
MAX_DRAFT_CHARS_SHOWN = 20_000


class OnCap:
    BEST = "best"
    LAST = "last"


class CriticFailure:
    ABSTAIN = "abstain"  # the critic's opinion is missing this iteration; the others decide
    REJECT = "reject"  # a failed critic counts as not accepting


_THRESHOLD = sp.number(
    "Threshold", "The score (0 to 1) at which this critic accepts a draft.", default=0.8, minimum=0, maximum=1
) | {"x-error": "Must be a number from 0 to 1."}
_CRITIC_NAME = sp.text("Name", "How the critic is shown (default: its agent, or judge-N).")
_CRITIC_MESSAGES = {"additionalProperties": "Unknown keys: {keys}."}

CRITIC_SCHEMA: dict[str, Any] = {
    "title": "Critic",
    "description": "An agent that scores each draft, or a rule or metrics judge.",
    "type": "object",
    "oneOf": [
        {
            "title": "Agent critic",
            "type": "object",
            "properties": {
                "agent": sp.member("Agent", "The member that scores and critiques each draft.", role="critics"),
                "name": _CRITIC_NAME,
                "threshold": _THRESHOLD,
                "score_max": {
                    "title": "Score out of",
                    "description": "The agent's scores are divided by this (10 for scores out of 10).",
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "default": 1,
                    "x-error": "Must be a positive number (scores are divided by it).",
                },
                "input": sp.template(
                    "Input", "What the critic is asked: task, iteration and draft.", default=DEFAULT_CRITIC_INPUT
                ),
            },
            "required": ["agent"],
            "additionalProperties": False,
            "x-messages": _CRITIC_MESSAGES,
        },
        {
            "title": "Judge critic",
            "type": "object",
            "properties": {
                "judge": {
                    **sp.judge(
                        "Judge", "A rule or metrics judge computed in the engine; a rule needs the expected answer."
                    ),
                    "x-discriminator": "kind",
                    "oneOf": [sp.rule_judge(expected_required=True), sp.metrics_judge()],
                },
                "name": _CRITIC_NAME,
                "threshold": _THRESHOLD,
            },
            "required": ["judge"],
            "additionalProperties": False,
            "x-messages": _CRITIC_MESSAGES,
        },
    ],
    "x-messages": {
        "type": "A critic is an object with 'agent' or 'judge'.",
        "oneOf": "Give exactly one of 'agent' or 'judge'.",
    },
}


@dataclass(frozen=True)
class Critic:
    name: str
    threshold: float = 0.8
    agent: str | None = None
    judge: RuleJudge | MetricsJudge | None = None
    score_max: float = 1.0
    input: str = DEFAULT_CRITIC_INPUT


@dataclass
class ForgeState:
    task: str
    iteration: int = 0
    attempt: int = 0  # generator attempts for the current draft
    phase: str = "draft"  # draft | critique | done
    drafts: list[dict[str, Any]] = field(default_factory=list)  # [{iteration, text, critiques: {name: {...}}}]
    pending: list[str] = field(default_factory=list)  # critics whose verdict is out
    outcome: dict[str, Any] = field(default_factory=dict)

    def dump(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.__dict__))


class ForgeStrategy:
    """Config keys: ``generator``, ``critics`` (list of {agent | judge, name, threshold, score_max,
    input}; default: every other member at 0.8), ``max_iterations`` (3), ``on_cap`` (best | last),
    ``critic_failure`` (abstain | reject), ``generator_retries`` (1), ``step_timeout_s``, ``room``."""

    name: ClassVar[str] = "forge"
    config_only: ClassVar[bool] = True  # built from its config and members alone (see registry)
    roles: ClassVar[tuple[dict[str, Any], ...]] = (
        {"role": "generator", "key": "generator", "many": False, "description": "Writes and revises the drafts."},
        {"role": "critics", "key": "critics", "many": True, "description": "Score each draft and say what to fix."},
    )
    config_schema: ClassVar[dict[str, Any]] = sp.config(
        {
            "generator": sp.member(
                "Generator", "Drafts, then revises with every critique (default: the first member).", role="generator"
            )
            | {"pattern": sp.NOT_BLANK},
            "critics": {
                "title": "Critics",
                "description": "Every critic must accept a draft (default: every other member at 0.8).",
                "type": "array",
                "minItems": 1,
                "items": CRITIC_SCHEMA,
                "x-messages": {
                    "type": "Give at least one critic: an agent other than the generator, or a judge.",
                    "minItems": "Give at least one critic: an agent other than the generator, or a judge.",
                },
            },
            "max_iterations": sp.integer(
                "Iterations", "The most drafts before the run stops.", default=3, minimum=1, maximum=20
            ),
            "on_cap": sp.choice(
                "At the limit",
                "Which draft is the result when the critics never all accept: the best-scoring or the last.",
                (OnCap.BEST, OnCap.LAST),
                default=OnCap.BEST,
            ),
            "critic_failure": sp.choice(
                "A critic fails",
                "abstain: the other critics decide this iteration; reject: it counts as not accepting.",
                (CriticFailure.ABSTAIN, CriticFailure.REJECT),
                default=CriticFailure.ABSTAIN,
            ),
            "generator_retries": sp.integer(
                "Generator retries",
                "How often a failed or empty draft is asked for again.",
                default=1,
                minimum=0,
                maximum=5,
            ),
            "step_timeout_s": sp.number(
                "Step timeout (seconds)",
                "How long one draft or critique may take (default: no limit).",
                minimum=0.1,
                maximum=3600,
            )
            | {"type": ["number", "null"]},
            "room": sp.room("forge"),
        }
    )

    def __init__(self, config: Mapping[str, Any] | None, members: Sequence[str]) -> None:
        reader = ConfigReader(
            config,
            allowed={
                "generator",
                "critics",
                "max_iterations",
                "on_cap",
                "critic_failure",
                "generator_retries",
                "step_timeout_s",
                "room",
            },
            error=StrategyConfigError,
        )
        self.generator = reader.string("generator", members[0] if members else "", required=True)
        if self.generator not in members:
            reader.error("generator", f"Unknown agent {self.generator!r}: not a member of this swarm.")
        raw_critics = reader.config.get("critics")
        if raw_critics is None:
            raw_critics = [{"agent": m} for m in members if m != self.generator]
        self.critics: list[Critic] = []
        if not isinstance(raw_critics, list) or not raw_critics:
            reader.error("critics", "Give at least one critic: an agent other than the generator, or a judge.")
            raw_critics = []
        for i, raw in enumerate(raw_critics):
            critic = self._parse_critic(reader, i, raw, members)
            if critic is None:
                continue
            if any(c.name == critic.name for c in self.critics):
                reader.error(f"critics[{i}].name", f"Duplicate critic name {critic.name!r}.")
            self.critics.append(critic)
        self.max_iterations = reader.integer("max_iterations", 3, minimum=1, maximum=20) or 3
        self.on_cap = reader.choice("on_cap", OnCap.BEST, (OnCap.BEST, OnCap.LAST))
        self.critic_failure = reader.choice(
            "critic_failure", CriticFailure.ABSTAIN, (CriticFailure.ABSTAIN, CriticFailure.REJECT)
        )
        self.generator_retries = reader.integer("generator_retries", 1, minimum=0, maximum=5)
        self.generator_retries = 1 if self.generator_retries is None else self.generator_retries
        self.step_timeout_s = reader.number("step_timeout_s", None, minimum=0.1, maximum=3600)
        self.room = reader.string("room", "forge", required=True)
        reader.raise_if_invalid("forge")

    @staticmethod
    def _parse_critic(reader: ConfigReader, i: int, raw: Any, members: Sequence[str]) -> Critic | None:
        where = f"critics[{i}]"
        if not isinstance(raw, Mapping):
            reader.error(where, "A critic is an object with 'agent' or 'judge'.")
            return None
        unknown = set(raw) - {"agent", "judge", "name", "threshold", "score_max", "input"}
        if unknown:
            reader.error(where, f"Unknown keys: {', '.join(sorted(unknown))}.")
        if ("agent" in raw) == ("judge" in raw):
            reader.error(where, "Give exactly one of 'agent' or 'judge'.")
            return None
        threshold = raw.get("threshold", 0.8)
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
            reader.error(f"{where}.threshold", "Must be a number from 0 to 1.")
            threshold = 0.8
        score_max = raw.get("score_max", 1)
        if isinstance(score_max, bool) or not isinstance(score_max, int | float) or score_max <= 0:
            reader.error(f"{where}.score_max", "Must be a positive number (scores are divided by it).")
            score_max = 1
        template = raw.get("input", DEFAULT_CRITIC_INPUT)
        try:
            templating.check_template(str(template))
        except EngineError as exc:
            reader.error(f"{where}.input", exc.message)
        if "agent" in raw:
            agent = raw["agent"]
            if agent not in members:
                reader.error(f"{where}.agent", f"Unknown agent {agent!r}: not a member of this swarm.")
            name = str(raw.get("name") or agent)
            return Critic(name, float(threshold), agent=str(agent), score_max=float(score_max), input=str(template))
        try:
            judge = parse_judge(raw["judge"], members, where=f"{where}.judge")
        except ConfigError as exc:
            for key, messages in exc.fields.items():
                for message in messages:
                    reader.error(key, message)
            return None
        if judge.kind not in (JudgeKind.RULE, JudgeKind.METRICS):
            reader.error(f"{where}.judge.kind", "A judge critic is a rule or metrics judge; an LLM is an agent critic.")
            return None
        if isinstance(judge, RuleJudge) and judge.expected is None:
            reader.error(f"{where}.judge.expected", "A rule critic needs the expected answer.")
        return Critic(str(raw.get("name") or f"judge-{i + 1}"), float(threshold), judge=judge)  # type: ignore[arg-type]

    # ---- transitions ------------------------------------------------------------------

    def start(self, task: str) -> Transition:
        s = ForgeState(task=task, iteration=1)
        actions: list = [PostMessage(self.room, "task", task, is_human=True), self._draft_step(s)]
        return Transition(s.dump(), (*actions, self._progress(s)))

    def on_fact(self, state: Mapping[str, Any], fact: Fact) -> Transition:
        s = ForgeState(**json.loads(json.dumps(state)))
        if isinstance(fact, MembersChanged):
            return Transition(s.dump())  # the generator and critics are fixed by the config
        if not isinstance(fact, StepFinished):
            raise StrategyError(f"FORGE cannot handle {type(fact).__name__}.")
        if s.phase == "draft" and fact.key == self._draft_key(s):
            return self._drafted(s, fact.result)
        match = re.fullmatch(r"critique-(\d+)-(\d+)", fact.key)
        if s.phase == "critique" and match and int(match.group(1)) == s.iteration:
            critic = self.critics[int(match.group(2))]
            if critic.name in s.pending:
                return self._critiqued(s, critic, fact.result)
        raise StrategyError(f"FORGE was not waiting for {fact.key!r}.")

    # ---- phases -----------------------------------------------------------------------

    def _drafted(self, s: ForgeState, result: StepResult) -> Transition:
        if not result.ok or not result.content.strip():
            reason = (result.error or result.outcome.value) if not result.ok else "an empty draft"
            if s.attempt < self.generator_retries:
                s.attempt += 1
                note = PostMessage(self.room, "system", f"{self.generator} failed ({reason}); asking again.")
                return Transition(s.dump(), (note, self._draft_step(s), self._progress(s)))
            if s.drafts:
                return self._stop(s, [], reason=f"the generator failed on draft {s.iteration}: {reason}")
            return Transition(s.dump(), (Fail(f"FORGE: the generator failed to write a first draft: {reason}"),))
        s.drafts.append({"iteration": s.iteration, "text": result.content, "critiques": {}})
        s.phase = "critique"
        s.pending = [c.name for c in self.critics]
        actions: list = [PostMessage(self.room, self.generator, f"Draft {s.iteration}:\n{result.content}")]
        for index, critic in enumerate(self.critics):
            if critic.judge is not None:
                continue
            context = {"task": s.task, "draft": result.content, "iteration": s.iteration}
            try:
                text = templating.render(critic.input, context)
            except EngineError as exc:
                return Transition(s.dump(), (*actions, Fail(f"Critic {critic.name}: {exc.message}")))
            actions.append(
                RunStep(
                    key=f"critique-{s.iteration}-{index}",
                    agent=critic.agent or "",
                    input=text,
                    room=self.room,
                    timeout_s=self.step_timeout_s,
                )
            )
        for critic in self.critics:  # judges score at once, in the engine
            if critic.judge is not None:
                self._record(s, critic, *self._judge_score(critic, result.content), actions)
        return self._after_critique(s, actions)

    def _critiqued(self, s: ForgeState, critic: Critic, result: StepResult) -> Transition:
        actions: list = []
        if result.ok:
            parsed = parse_critique(result, score_max=critic.score_max)
            if parsed is None:
                self._record(s, critic, None, f"unreadable critique: {result.content[:200]!r}", actions)
            else:
                self._record(s, critic, *parsed, actions)
        else:
            self._record(s, critic, None, f"the critic failed: {result.error or result.outcome.value}", actions)
        return self._after_critique(s, actions)

    def _record(self, s: ForgeState, critic: Critic, score: float | None, critique: str, actions: list) -> None:
        s.pending.remove(critic.name)
        accepted = score is not None and score >= critic.threshold - 1e-9
        s.drafts[-1]["critiques"][critic.name] = {
            "score": score,
            "threshold": critic.threshold,
            "accepted": accepted,
            "critique": critique,
            "failed": score is None,
        }
        shown = "no score" if score is None else f"{score:.2f}"
        verdict = "accepts" if accepted else "rejects"
        actions.append(PostMessage(self.room, critic.name, f"{verdict} draft {s.iteration} ({shown}): {critique}"))

    def _after_critique(self, s: ForgeState, actions: list) -> Transition:
        if s.pending:
            return Transition(s.dump(), (*actions, self._progress(s)))
        critiques = s.drafts[-1]["critiques"]
        answered = [c for c in critiques.values() if not c["failed"]]
        if self.critic_failure == CriticFailure.REJECT:
            accepted = all(c["accepted"] for c in critiques.values())
        else:
            accepted = bool(answered) and all(c["accepted"] for c in answered)
        s.drafts[-1]["accepted"] = accepted
        if accepted:
            return self._stop(s, actions, reason="every critic accepted", accepted=True)
        if s.iteration >= self.max_iterations:
            return self._stop(s, actions, reason=f"the cap of {self.max_iterations} iterations")
        s.iteration += 1
        s.attempt = 0
        s.phase = "draft"
        return Transition(s.dump(), (*actions, self._draft_step(s), self._progress(s)))

    def _stop(self, s: ForgeState, actions: list, *, reason: str, accepted: bool = False) -> Transition:
        s.phase = "done"
        s.pending = []
        if accepted or self.on_cap == OnCap.LAST:
            chosen = s.drafts[-1]
        else:
            chosen = max(reversed(s.drafts), key=lambda d: mean_score(d))
        s.outcome = {"accepted": accepted, "reason": reason, "chosen": chosen["iteration"]}
        note = f"Stopped: {reason}; the result is draft {chosen['iteration']}."
        actions.append(PostMessage(self.room, "system", note))
        return Transition(s.dump(), (*actions, self._progress(s), Finish(chosen["text"])))

    # ---- helpers ----------------------------------------------------------------------

    def _draft_key(self, s: ForgeState) -> str:
        return f"draft-{s.iteration}#{s.attempt}"

    def _draft_step(self, s: ForgeState) -> RunStep:
        if not s.drafts:
            text = s.task
        else:
            last = s.drafts[-1]
            lines = [f"Task: {s.task}", "", f"Your draft {last['iteration']}:", last["text"], "", "Critiques:"]
            for name, c in last["critiques"].items():
                score = "no score" if c["score"] is None else f"{c['score']:.2f} (needs {c['threshold']:.2f})"
                lines.append(f"- {name}, {score}: {c['critique']}")
            lines += ["", "Revise the draft to answer every critique. Reply with the complete revised draft."]
            text = "\n".join(lines)
        return RunStep(
            key=self._draft_key(s), agent=self.generator, input=text, room=self.room, timeout_s=self.step_timeout_s
        )

    @staticmethod
    def _judge_score(critic: Critic, draft: str) -> tuple[float | None, str]:
        assert critic.judge is not None
        try:
            verdict = critic.judge.judge("", [Submission("draft", draft)])
        except ConfigError as exc:
            return None, exc.message
        return verdict.scores.get("draft", 0.0), verdict.reasoning

    def snapshot(self, state: Mapping[str, Any]) -> dict[str, Any]:
        return forge_snapshot(state, critics=[c.name for c in self.critics])

    def _progress(self, s: ForgeState) -> Progress:
        return Progress(self.snapshot(s.dump()))


def parse_critique(result: StepResult, *, score_max: float = 1.0) -> tuple[float, str] | None:
    """A critic's (score in [0, 1], critique), or None if no score can be read.

    Accepted: a numeric ``score`` in the result's data (the built-in judge skill),
    JSON ``{"score": ..., "critique": ...}``, or text with ``score: 7/10`` or ``score: 0.7``.
    """
    text = result.content.strip()
    score: Any = result.data.get("score") if isinstance(result.data, Mapping) else None
    critique = text
    if not isinstance(score, int | float) or isinstance(score, bool):
        score = None
        block = text[text.find("{") : text.rfind("}") + 1] if "{" in text else ""
        try:
            data = json.loads(block) if block else None
        except ValueError:
            data = None
        if isinstance(data, Mapping) and isinstance(data.get("score"), int | float):
            score = data["score"]
            critique = str(data.get("critique") or data.get("feedback") or "")
        else:
            match = re.search(r"score\s*[:=]?\s*(\d+(?:\.\d+)?)\s*(?:/\s*(\d+(?:\.\d+)?))?", text, re.IGNORECASE)
            if match is None:
                return None
            score = float(match.group(1)) / float(match.group(2)) if match.group(2) else float(match.group(1))
            if match.group(2):
                return max(0.0, min(1.0, score)), critique
    return max(0.0, min(1.0, float(score) / score_max)), critique


def mean_score(draft: Mapping[str, Any]) -> float:
    scores = [c["score"] for c in draft.get("critiques", {}).values() if c["score"] is not None]
    return sum(scores) / len(scores) if scores else 0.0


def draft_diff(before: str, after: str) -> list[dict[str, str]]:
    """Line diff of two drafts: ``[{"op": "=" | "-" | "+", "text": line}]``."""
    a, b = before.splitlines(), after.splitlines()
    lines: list[dict[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            lines += [{"op": "=", "text": line} for line in a[i1:i2]]
            continue
        lines += [{"op": "-", "text": line} for line in a[i1:i2]]
        lines += [{"op": "+", "text": line} for line in b[j1:j2]]
    return lines


def forge_snapshot(state: Mapping[str, Any], *, critics: Sequence[str] | None = None) -> dict[str, Any]:
    """What the run page shows: every draft with its scores and critiques and its diff from the one before."""
    drafts = state.get("drafts", [])
    names = list(critics or [])
    for draft in drafts:
        names += [n for n in draft.get("critiques", {}) if n not in names]
    shown = []
    for index, draft in enumerate(drafts):
        previous = drafts[index - 1]["text"] if index else None
        shown.append(
            {
                "iteration": draft["iteration"],
                "text": draft["text"][:MAX_DRAFT_CHARS_SHOWN],
                "accepted": draft.get("accepted"),
                "mean": round(mean_score(draft), 3),
                "critiques": [{"critic": n, **draft["critiques"][n]} for n in names if n in draft.get("critiques", {})],
                "diff": draft_diff(previous[:MAX_DRAFT_CHARS_SHOWN], draft["text"][:MAX_DRAFT_CHARS_SHOWN])
                if previous is not None
                else None,
            }
        )
    scores = [
        {"critic": n, "scores": [d["critiques"].get(n, {}).get("score") for d in drafts]} for n in names
    ]  # per critic, one score per iteration: the chart of scores over iterations
    return {
        "view": "forge",
        "iteration": state.get("iteration", 0),
        "phase": state.get("phase", ""),
        "pending": list(state.get("pending", [])),
        "critics": names,
        "drafts": shown,
        "scores": scores,
        "outcome": state.get("outcome") or {},
    }
