"""SAO: a curriculum arena. Agents climb levels of growing difficulty.

Each level has a difficulty, a time limit, a reward and a task source (a
seeded generator or an inline dataset slice, see :mod:`apps.engine.curriculum`).
Every agent attempts its current level on its own, in parallel with the
others: one step per attempt, with the level's time limit as the step's
timeout. The judge (a rule against the task's expected answer by default;
an LLM judge runs as a step) scores the answer; a score of at least
``pass_score`` passes.

Passing awards the level's reward and moves the agent up; passing the top
level means the agent reached the top and stops. Failing (a wrong answer,
an error, a timeout or an answer that took longer than the limit) sends it
back ``setback`` levels: by default 0 at level 1 (retry), then 1, 2 and 3.
The run ends when every agent has reached the top or used ``max_attempts``
(with ``finish_when: first``, as soon as one reaches the top), or when a
run budget (steps, time, cost) runs out.

Progress per agent (level, total reward, lifetime counts) comes in with
``context["progress"]`` (persisted per swarm and agent by ``apps.arena``),
and the run service persists it, with the history of attempts, after every
transition.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from ..config import ConfigReader
from ..curriculum import (
    CurriculumTask,
    GeneratorName,
    TaskSource,
    default_reward,
    default_setback,
    parse_source,
)
from ..errors import ConfigError, StrategyConfigError, StrategyError
from ..judges import (
    ConsensusJudge,
    Judge,
    JudgeKind,
    MetricsJudge,
    RuleJudge,
    Submission,
    Verdict,
    judge_agents,
    parse_judge,
)
from ..judging import RuleMode
from ..values import StepOutcome, StepResult
from .base import Fact, Finish, MembersChanged, PostMessage, Progress, RunStep, StepFinished, Transition
from .judge_steps import JudgeSession
from .sao_schema import CONFIG_SCHEMA, MAX_LEVELS, FinishWhen

LEVEL_KEYS = {"name", "difficulty", "time_limit_s", "reward", "setback", "source"}


class Status:
    CLIMBING = "climbing"  # an attempt is out
    JUDGING = "judging"  # an LLM judge is looking at the answer
    TOP = "top"  # passed the top level
    OUT = "out"  # used its attempts, or left the run


@dataclass(frozen=True)
class Level:
    number: int  # from 1
    name: str
    difficulty: int
    time_limit_s: float
    reward: float
    setback: int
    source: TaskSource

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "name": self.name,
            "difficulty": self.difficulty,
            "time_limit_s": self.time_limit_s,
            "reward": self.reward,
            "setback": self.setback,
            "source": self.source.describe(),
        }


def blank_progress() -> dict[str, Any]:
    return {
        "level": 1,
        "total_reward": 0.0,
        "attempts": 0,
        "passes": 0,
        "fails": 0,
        "reached_top": False,
        "level_attempts": {},
    }


@dataclass
class SaoState:
    agents: dict[str, dict[str, Any]]  # name -> progress record + status, run_attempts
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {key, level, task, answer}
    judging: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> JudgeSession state
    history: list[dict[str, Any]] = field(default_factory=list)  # every settled attempt, in order
    finished: bool = False

    def dump(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.__dict__))


class SaoStrategy:
    """Config keys: ``levels`` (list of {name, difficulty, time_limit_s, reward, setback, source}; default
    four arithmetic levels), ``agents`` (default every member but the judge's), ``judge``, ``pass_score``,
    ``max_attempts`` (per agent and run), ``finish_when`` (all | first), ``resume`` (start from the persisted
    levels), ``time_limit_s`` (the levels' default), ``seed``, ``room``."""

    name: ClassVar[str] = "sao"
    roles: ClassVar[tuple[dict[str, Any], ...]] = (
        {"role": "climbers", "key": "agents", "many": True, "description": "Climb the levels, each on its own."},
        {"role": "judge", "key": "judge", "many": False, "description": "LLM judges scoring the answers."},
    )
    config_schema: ClassVar[dict[str, Any]] = CONFIG_SCHEMA

    def __init__(self, config: Mapping[str, Any] | None, members: Sequence[str]) -> None:
        reader = ConfigReader(
            config,
            allowed={
                "levels",
                "agents",
                "judge",
                "pass_score",
                "max_attempts",
                "finish_when",
                "resume",
                "time_limit_s",
                "seed",
                "room",
            },
            error=StrategyConfigError,
        )
        self.judge: Judge = RuleJudge()
        if reader.config.get("judge") is not None:
            try:
                self.judge = parse_judge(reader.config["judge"], members)
            except ConfigError as exc:
                for key, messages in exc.fields.items():
                    for message in messages:
                        reader.error(key, message)
        judges = set(judge_agents(self.judge))
        agents = reader.config.get("agents", [m for m in members if m not in judges])
        if not isinstance(agents, list) or not agents or not all(isinstance(a, str) for a in agents):
            reader.error("agents", "A non-empty list of member names.")
            agents = []
        for agent in agents:
            if agent not in members:
                reader.error("agents", f"Unknown agent {agent!r}: not a member of this swarm.")
            elif agent in judges:
                reader.error("agents", f"{agent} judges the attempts and cannot climb as well.")
        self.agents: list[str] = list(dict.fromkeys(agents))
        self.time_limit_s = reader.number("time_limit_s", 60.0, minimum=0.1, maximum=3600.0) or 60.0
        self.levels = self._parse_levels(reader)
        self.pass_score = reader.number("pass_score", 0.5, minimum=0.0, maximum=1.0)
        self.pass_score = 0.5 if self.pass_score is None else self.pass_score
        self.max_attempts = reader.integer("max_attempts", 20, minimum=1, maximum=1000) or 20
        self.finish_when = reader.choice("finish_when", FinishWhen.ALL, (FinishWhen.ALL, FinishWhen.FIRST))
        self.resume = reader.boolean("resume", True)
        self.seed = reader.integer("seed", 0, minimum=0) or 0
        self.room = reader.string("room", "arena", required=True)
        reader.raise_if_invalid("SAO")

    def _needs_expected(self) -> bool:
        leaves = self.judge.judges if isinstance(self.judge, ConsensusJudge) else (self.judge,)
        return any(isinstance(j, RuleJudge) and j.expected is None for j in leaves)

    def _parse_levels(self, reader: ConfigReader) -> list[Level]:
        raw = reader.config.get("levels")
        if raw is None:
            raw = [{"source": {"generator": GeneratorName.ARITHMETIC}} for _ in range(4)]
        if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_LEVELS:
            reader.error("levels", f"A list of 1 to {MAX_LEVELS} levels.")
            return []
        levels = []
        for i, item in enumerate(raw):
            where = f"levels[{i}]"
            if not isinstance(item, Mapping):
                reader.error(where, "Each level is {name, difficulty, time_limit_s, reward, setback, source}.")
                continue
            sub = ConfigReader(item, allowed=LEVEL_KEYS)
            name = sub.string("name", f"Level {i + 1}", required=True)
            difficulty = sub.integer("difficulty", min(i + 1, 10), minimum=1, maximum=10) or 1
            time_limit = sub.number("time_limit_s", self.time_limit_s, minimum=0.1, maximum=3600.0)
            reward = sub.number("reward", default_reward(i), minimum=0.0, maximum=1_000_000.0)
            setback = sub.integer("setback", default_setback(i), minimum=0, maximum=i)
            for key, messages in sub.errors.items():
                for message in messages:
                    reader.error(f"{where}.{key}", message)
            source = parse_source(
                item.get("source", {"generator": GeneratorName.ARITHMETIC}),
                f"{where}.source",
                reader.error,
                needs_expected=self._needs_expected(),
            )
            levels.append(
                Level(
                    number=i + 1,
                    name=name,
                    difficulty=difficulty,
                    time_limit_s=time_limit or self.time_limit_s,
                    reward=default_reward(i) if reward is None else reward,
                    setback=default_setback(i) if setback is None else setback,
                    source=source,
                )
            )
        return levels

    # ---- transitions ------------------------------------------------------------------

    def start(self, task: str, context: Mapping[str, Any] | None = None) -> Transition:
        """``context``: ``progress`` (agent -> persisted record: level, total_reward, attempts,
        passes, fails, reached_top, level_attempts)."""
        loaded = (context or {}).get("progress") or {}
        top = len(self.levels)
        s = SaoState(agents={})
        for agent in self.agents:
            record = {**blank_progress(), **(loaded.get(agent) or {})}
            record["level"] = max(1, min(top, int(record["level"])))
            record["level_attempts"] = dict(record.get("level_attempts") or {})
            if not self.resume:
                record["level"], record["reached_top"] = 1, False
            record["status"] = Status.TOP if record["reached_top"] else Status.CLIMBING
            record["run_attempts"] = 0
            s.agents[agent] = record
        intro = f"Curriculum of {top} levels for {', '.join(self.agents)}."
        actions: list = [PostMessage(self.room, "task", task, is_human=True), PostMessage(self.room, "system", intro)]
        for agent in self.agents:
            if s.agents[agent]["status"] == Status.CLIMBING:
                actions.append(self._attempt(s, agent))
        return self._settled(s, actions)

    def on_fact(self, state: Mapping[str, Any], fact: Fact) -> Transition:
        s = SaoState(**json.loads(json.dumps(state)))
        if isinstance(fact, MembersChanged):
            for agent in fact.left:
                if agent in s.agents and s.agents[agent]["status"] in (Status.CLIMBING, Status.JUDGING):
                    s.agents[agent]["status"] = Status.OUT
                    s.pending.pop(agent, None)
                    s.judging.pop(agent, None)
            return self._settled(s, [])
        if not isinstance(fact, StepFinished):
            raise StrategyError(f"SAO cannot handle {type(fact).__name__}.")
        for agent, pending in s.pending.items():
            if fact.key == pending["key"] and agent not in s.judging:
                return self._answered(s, agent, fact.result)
            session = self._session(pending)
            if agent in s.judging and session.owns(fact.key):
                judging, steps, verdict = session.on_result(s.judging[agent], fact.key, fact.result)
                s.judging[agent] = judging
                if verdict is None:
                    return Transition(s.dump(), tuple(steps))
                return self._verdict(s, agent, verdict)
        raise StrategyError(f"SAO was not waiting for {fact.key!r}.")

    # ---- one attempt -------------------------------------------------------------------

    def _attempt(self, s: SaoState, agent: str) -> RunStep:
        record = s.agents[agent]
        level = self.levels[record["level"] - 1]
        index = record["level_attempts"].get(str(level.number), 0)
        task = level.source.task(difficulty=level.difficulty, seed=self.seed, level=level.number, index=index)
        record["level_attempts"][str(level.number)] = index + 1
        record["attempts"] += 1
        record["run_attempts"] += 1
        record["status"] = Status.CLIMBING
        key = f"{agent}#{record['attempts']}"
        s.pending[agent] = {"key": key, "level": level.number, "task": task.to_dict(), "answer": "", "latency_ms": 0}
        return RunStep(key=key, agent=agent, input=task.text, timeout_s=level.time_limit_s)

    def _answered(self, s: SaoState, agent: str, result: StepResult) -> Transition:
        pending = s.pending[agent]
        level = self.levels[pending["level"] - 1]
        pending["answer"] = result.content if result.ok else ""
        pending["latency_ms"] = result.latency_ms
        limit_ms = level.time_limit_s * 1000
        if result.outcome is StepOutcome.TIMEOUT:
            return self._settle(s, agent, passed=False, reason=f"over time (limit {level.time_limit_s:g} s)")
        if result.ok and result.latency_ms > limit_ms:
            reason = f"over time ({result.latency_ms} ms > {limit_ms:g} ms)"
            return self._settle(s, agent, passed=False, reason=reason)
        if not result.ok:
            return self._settle(s, agent, passed=False, reason=f"failed: {result.error or result.outcome.value}")
        task = CurriculumTask.from_dict(pending["task"])
        submission = Submission(agent, result.content, latency_ms=result.latency_ms, cost=float(result.usage.cost))
        judging, steps, verdict = self._session(pending).begin(task.text, [submission], expected=task.expected)
        if verdict is not None:
            return self._verdict(s, agent, verdict)
        s.judging[agent] = judging
        s.agents[agent]["status"] = Status.JUDGING
        return Transition(s.dump(), (*steps, self._progress(s)))

    def _verdict(self, s: SaoState, agent: str, verdict: Verdict) -> Transition:
        score = verdict.scores.get(agent, 0.0)
        passed = score >= self.pass_score
        reason = f"score {score:g} {'≥' if passed else '<'} {self.pass_score:g}: {verdict.reasoning}"
        return self._settle(s, agent, passed=passed, reason=reason)

    def _settle(self, s: SaoState, agent: str, *, passed: bool, reason: str) -> Transition:
        record = s.agents[agent]
        pending = s.pending.pop(agent)
        s.judging.pop(agent, None)
        level = self.levels[pending["level"] - 1]
        reward = level.reward if passed else 0.0
        if passed:
            record["passes"] += 1
            record["total_reward"] = round(record["total_reward"] + reward, 6)
            if level.number == len(self.levels):
                record["reached_top"], record["status"] = True, Status.TOP
            else:
                record["level"] = level.number + 1
        else:
            record["fails"] += 1
            record["level"] = max(1, level.number - level.setback)
        s.history.append(
            {
                "n": len(s.history) + 1,
                "agent": agent,
                "attempt": record["attempts"],
                "level": level.number,
                "task": pending["task"]["task"][:500],
                "expected": pending["task"]["expected"],
                "answer": pending["answer"][:500],
                "latency_ms": pending["latency_ms"],
                "passed": passed,
                "reason": reason[:500],
                "reward": reward,
                "total_after": record["total_reward"],
                "level_after": record["level"],
                "reached_top": record["reached_top"],
            }
        )
        if passed and record["reached_top"]:
            note = f"{agent} passed {level.name} (+{reward:g}) and reached the top."
        elif passed:
            note = f"{agent} passed {level.name} (+{reward:g}): up to level {record['level']}."
        else:
            note = f"{agent} failed {level.name} ({reason[:200]}): back to level {record['level']}."
        actions: list = [PostMessage(self.room, "judge", note)]
        if record["status"] != Status.TOP:
            if record["run_attempts"] >= self.max_attempts:
                record["status"] = Status.OUT
                actions.append(PostMessage(self.room, "system", f"{agent} used its {self.max_attempts} attempts."))
            else:
                actions.append(self._attempt(s, agent))
        return self._settled(s, actions)

    def _settled(self, s: SaoState, actions: list) -> Transition:
        """Finish when the curriculum is over for everyone (or for the first, with ``finish_when: first``)."""
        statuses = [r["status"] for r in s.agents.values()]
        first_done = self.finish_when == FinishWhen.FIRST and Status.TOP in statuses
        if first_done or all(st in (Status.TOP, Status.OUT) for st in statuses):
            s.finished = True
            s.pending, s.judging = {}, {}
            actions = [a for a in actions if not isinstance(a, RunStep)]
            return Transition(s.dump(), (*actions, self._progress(s), Finish(self._summary(s))))
        return Transition(s.dump(), (*actions, self._progress(s)))

    def _summary(self, s: SaoState) -> str:
        top = len(self.levels)
        lines = []
        for agent, r in s.agents.items():
            where = "reached the top" if r["reached_top"] else f"at level {r['level']} of {top}"
            lines.append(
                f"{agent}: {where}, total reward {r['total_reward']:g} "
                f"({r['passes']} passed, {r['fails']} failed, {r['run_attempts']} attempts this run)"
            )
        return "\n".join(lines)

    def _judge_for(self, checker: RuleMode | None) -> Judge:
        """The judge with the task's own rule (``checker``) in place of its rule judges' mode."""
        if checker is None:
            return self.judge

        def swap(judge: Judge) -> Judge:
            if isinstance(judge, RuleJudge):
                return replace(judge, mode=checker)
            if isinstance(judge, MetricsJudge) and judge.rule is not None:
                return replace(judge, rule=replace(judge.rule, mode=checker))
            return judge

        if isinstance(self.judge, ConsensusJudge):
            return replace(self.judge, judges=tuple(swap(j) for j in self.judge.judges))
        return swap(self.judge)

    def _session(self, pending: Mapping[str, Any]) -> JudgeSession:
        checker = pending["task"].get("checker")
        judge = self._judge_for(RuleMode(checker) if checker else None)
        return JudgeSession(judge, prefix=f"{pending['key']}-", room=None)

    # ---- views -------------------------------------------------------------------------

    def judge_agents(self) -> list[str]:
        return judge_agents(self.judge) if self.judge.kind in (JudgeKind.LLM, JudgeKind.CONSENSUS) else []

    def snapshot(self, state: Mapping[str, Any]) -> dict[str, Any]:
        return sao_snapshot(state, levels=self.levels, agents=self.agents, max_attempts=self.max_attempts)

    def _progress(self, s: SaoState) -> Progress:
        return Progress(self.snapshot(s.dump()))


def reward_sparkline(totals: Sequence[float], *, width: int = 100, height: int = 20) -> str:
    """SVG polyline points for a series of cumulative rewards (starting from 0)."""
    series = [0.0, *totals]
    peak = max(series) or 1.0
    step = width / max(1, len(series) - 1)
    return " ".join(f"{i * step:.1f},{height - v / peak * height:.1f}" for i, v in enumerate(series))


HISTORY_SHOWN = 20  # attempts in each progress event: every event is stored, so keep it small


def _brief(attempt: Mapping[str, Any]) -> dict[str, Any]:
    """An attempt as the panel shows it, texts cut short."""
    brief = {k: attempt[k] for k in ("n", "agent", "level", "passed", "reward", "level_after", "reached_top")}
    return {**brief, "task": attempt["task"][:80], "answer": attempt["answer"][:40], "reason": attempt["reason"][:120]}


def sao_snapshot(
    state: Mapping[str, Any], *, levels: Sequence[Level], agents: Sequence[str], max_attempts: int
) -> dict[str, Any]:
    """Each agent's place on the ladder and reward history, and the latest attempts (newest first)."""
    history = list(state.get("history", []))
    pending = state.get("pending", {})
    rows = []
    for agent in agents:
        record = state.get("agents", {}).get(agent)
        if record is None:
            continue
        mine = [h for h in history if h["agent"] == agent]
        current = record["level"]
        track = []
        for level in levels:
            if record["reached_top"] or level.number < current:
                mark = "reached"
            elif level.number == current:
                mark = "current"
            else:
                mark = ""
            track.append({"number": level.number, "mark": mark})
        rows.append(
            {
                "agent": agent,
                "level": current,
                "status": record["status"],
                "reached_top": record["reached_top"],
                "total_reward": record["total_reward"],
                "passes": record["passes"],
                "fails": record["fails"],
                "attempts": record["attempts"],
                "run_attempts": record.get("run_attempts", 0),
                "track": track,
                "marks": [{"level": h["level"], "passed": h["passed"]} for h in mine[-20:]],
                "spark": reward_sparkline([h["total_after"] for h in mine]),
                "task": (pending.get(agent) or {}).get("task", {}).get("task", ""),
            }
        )
    return {
        "view": "sao",
        "levels": [level.to_dict() for level in levels],
        "agents": rows,
        "history": [_brief(h) for h in reversed(history[-HISTORY_SHOWN:])],
        "attempts": len(history),
        "max_attempts": max_attempts,
        "finished": bool(state.get("finished")),
    }
