"""ORC: leadership earned through trials, per domain.

Agents declare domains in the config (``domains: {math: {description, agents}}``).
Each task belongs to a domain: given with the task, or inferred before the
run starts (the run service matches the task's text to the domains'
descriptions with sentence embeddings and passes the result in ``context``;
the transition itself stays pure).

For each task the domain's leader answers. A challenger may contest it
(``challenge``: probability, cooldown in tasks, minimum rating, and how the
challenger is picked); then leader and challenger run the same task in
parallel (two steps, with a timeout) and the judge decides. A tie goes to
the leader. The winner's Elo rating rises (``k_factor``); a challenger who
wins, with at least ``min_trials`` trials behind it, becomes the leader. A
leader that defends ``max_defences`` times in a row is rotated out to the
next best-rated agent. With ``contest: round_robin`` or ``tournament`` every
agent of the domain competes in a trial instead of a duel.

Ratings (per agent and domain: Elo, wins, losses, ties, trials, defence
streak) come in with ``context["ratings"]`` and are kept in the state, from
which the run service persists them after every transition.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..config import ConfigReader
from ..errors import ConfigError, StrategyConfigError, StrategyError
from ..judges import Judge, JudgeKind, MetricsJudge, Submission, Verdict, judge_agents, parse_judge
from .base import Fact, Fail, Finish, MembersChanged, PostMessage, Progress, RunStep, StepFinished, Transition
from .judge_steps import JudgeSession
from .orc_schema import CONFIG_SCHEMA, Contest, Pick

DEFAULT_RATING = 1000.0


def elo_expected(rating: float, other: float) -> float:
    return 1.0 / (1.0 + 10 ** ((other - rating) / 400.0))


def elo_update(rating: float, other: float, score: float, k: float) -> float:
    """The new rating after a game scoring ``score`` (1 win, 0.5 tie, 0 loss) against ``other``."""
    return rating + k * (score - elo_expected(rating, other))


def blank_rating() -> dict[str, Any]:
    return {"rating": DEFAULT_RATING, "wins": 0, "losses": 0, "ties": 0, "trials": 0, "defence_streak": 0}


@dataclass
class OrcState:
    tasks: list[dict[str, Any]]  # [{task, expected, domain}]
    index: int = 0
    phase: str = "answer"  # answer | trial | judge | done
    leaders: dict[str, str] = field(default_factory=dict)
    ratings: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # domain -> agent -> record
    last_challenge: dict[str, int] = field(default_factory=dict)  # "domain/agent" -> task index
    rotation: dict[str, int] = field(default_factory=dict)  # round-robin pick position per domain
    contestants: list[str] = field(default_factory=list)
    submissions: dict[str, dict[str, Any]] = field(default_factory=dict)
    judging: dict[str, Any] = field(default_factory=dict)
    trials: list[dict[str, Any]] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)

    def dump(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.__dict__))


class OrcStrategy:
    """Config keys: ``domains`` ({name: {description, agents}}; default one domain ``general`` with
    every member), ``tasks`` (list of {task, expected, domain}; default the run's task), ``expected``,
    ``domain``, ``judge``, ``challenge`` ({probability, cooldown, min_rating, pick}), ``k_factor``,
    ``min_trials``, ``max_defences``, ``decay``, ``contest``, ``trial_timeout_s``, ``seed``, ``room``."""

    name: ClassVar[str] = "orc"
    roles: ClassVar[tuple[dict[str, Any], ...]] = (
        {
            "role": "contenders",
            "key": "domains",
            "many": True,
            "description": "Each domain's agents: its leader and challengers.",
        },
        {"role": "judge", "key": "judge", "many": False, "description": "LLM judges deciding the trials."},
    )
    config_schema: ClassVar[dict[str, Any]] = CONFIG_SCHEMA

    def __init__(self, config: Mapping[str, Any] | None, members: Sequence[str]) -> None:
        reader = ConfigReader(
            config,
            allowed={
                "domains",
                "tasks",
                "expected",
                "domain",
                "judge",
                "challenge",
                "k_factor",
                "min_trials",
                "max_defences",
                "decay",
                "contest",
                "trial_timeout_s",
                "seed",
                "room",
            },
            error=StrategyConfigError,
        )
        self.domains: dict[str, dict[str, Any]] = {}
        raw_domains = reader.config.get("domains", {"general": {"agents": list(members)}})
        if not isinstance(raw_domains, Mapping) or not raw_domains:
            reader.error("domains", "An object of domain name -> {description, agents}.")
            raw_domains = {}
        for name, raw in raw_domains.items():
            where = f"domains.{name}"
            if not isinstance(raw, Mapping) or set(raw) - {"description", "agents"}:
                reader.error(where, "Each domain is {description, agents}.")
                continue
            agents = raw.get("agents", list(members))
            if not isinstance(agents, list) or not agents or not all(isinstance(a, str) for a in agents):
                reader.error(f"{where}.agents", "A non-empty list of member names.")
                continue
            for agent in agents:
                if agent not in members:
                    reader.error(f"{where}.agents", f"Unknown agent {agent!r}: not a member of this swarm.")
            self.domains[str(name)] = {
                "description": str(raw.get("description") or name),
                "agents": list(dict.fromkeys(agents)),
            }
        self.tasks = self._parse_tasks(reader)
        self.expected = reader.config.get("expected")
        if self.expected is not None and not isinstance(self.expected, str | int | float):
            reader.error("expected", "Must be a string or a number.")
        self.domain = reader.config.get("domain")
        if self.domain is not None and not isinstance(self.domain, str):
            reader.error("domain", "Must be the name of one of the domains.")
        elif self.domain is not None and self.domain not in self.domains:
            reader.error("domain", f"Unknown domain {self.domain!r}.")
        raw_judge = reader.config.get("judge")
        self.judge: Judge = MetricsJudge()
        if raw_judge is not None:
            try:
                self.judge = parse_judge(raw_judge, members)
            except ConfigError as exc:
                for key, messages in exc.fields.items():
                    for message in messages:
                        reader.error(key, message)
        elif self.expected is not None or any(t.get("expected") is not None for t in self.tasks):
            self.judge = parse_judge({"kind": "rule", "mode": "exact"}, members)
        challenge = reader.config.get("challenge", {}) or {}
        if not isinstance(challenge, Mapping) or set(challenge) - {"probability", "cooldown", "min_rating", "pick"}:
            reader.error("challenge", "An object with probability, cooldown, min_rating and pick.")
            challenge = {}
        sub = ConfigReader(challenge, allowed={"probability", "cooldown", "min_rating", "pick"})
        self.probability = sub.number("probability", 1.0, minimum=0.0, maximum=1.0)
        self.cooldown = sub.integer("cooldown", 0, minimum=0, maximum=1000) or 0
        self.min_rating = sub.number("min_rating", 0.0, minimum=0.0, maximum=10_000.0) or 0.0
        self.pick = sub.choice("pick", Pick.HIGHEST_RATED, (Pick.HIGHEST_RATED, Pick.ROUND_ROBIN, Pick.RANDOM))
        for key, messages in sub.errors.items():
            for message in messages:
                reader.error(f"challenge.{key}", message)
        self.probability = 1.0 if self.probability is None else self.probability
        self.k_factor = reader.number("k_factor", 32.0, minimum=1.0, maximum=400.0) or 32.0
        self.min_trials = reader.integer("min_trials", 0, minimum=0, maximum=1000) or 0
        self.max_defences = reader.integer("max_defences", None, minimum=1, maximum=1000)
        self.decay = reader.number("decay", 0.0, minimum=0.0, maximum=1.0) or 0.0
        self.contest = reader.choice("contest", Contest.DUEL, (Contest.DUEL, Contest.ROUND_ROBIN, Contest.TOURNAMENT))
        self.trial_timeout_s = reader.number("trial_timeout_s", None, minimum=0.1, maximum=3600)
        self.seed = reader.integer("seed", 0, minimum=0) or 0
        self.room = reader.string("room", "arena", required=True)
        reader.raise_if_invalid("ORC")

    def _parse_tasks(self, reader: ConfigReader) -> list[dict[str, Any]]:
        raw = reader.config.get("tasks")
        if raw is None:
            return []
        if not isinstance(raw, list) or not raw or len(raw) > 500:
            reader.error("tasks", "A list of 1 to 500 {task, expected, domain} objects.")
            return []
        tasks = []
        for i, item in enumerate(raw):
            if isinstance(item, str):
                item = {"task": item}
            if not isinstance(item, Mapping) or not isinstance(item.get("task"), str) or not item["task"].strip():
                reader.error(f"tasks[{i}]", "Each task is a string or {task, expected, domain}.")
                continue
            if set(item) - {"task", "expected", "domain"}:
                reader.error(f"tasks[{i}]", "Only task, expected and domain.")
            if item.get("domain") is not None and item["domain"] not in self.domains:
                reader.error(f"tasks[{i}].domain", f"Unknown domain {item['domain']!r}.")
            expected = item.get("expected")
            expected = None if expected is None else str(expected)
            tasks.append({"task": item["task"], "expected": expected, "domain": item.get("domain")})
        return tasks

    # ---- what the run service needs before the start ------------------------------------

    def tasks_for(self, run_task: str) -> list[dict[str, Any]]:
        """The tasks of a run on ``run_task``, each with its domain if known without inference."""
        expected = None if self.expected is None else str(self.expected)
        tasks = [dict(t) for t in self.tasks] or [{"task": run_task, "expected": expected, "domain": self.domain}]
        for t in tasks:
            if t["domain"] is None and len(self.domains) == 1:
                t["domain"] = next(iter(self.domains))
        return tasks

    def agents(self) -> list[str]:
        return list(dict.fromkeys(a for d in self.domains.values() for a in d["agents"]))

    # ---- transitions ------------------------------------------------------------------

    def start(self, task: str, context: Mapping[str, Any] | None = None) -> Transition:
        """``context``: ``ratings`` (domain -> agent -> record, from the database) and
        ``domains`` (one inferred domain per task without one)."""
        context = context or {}
        tasks = self.tasks_for(task)
        inferred = list(context.get("domains") or [])
        for i, t in enumerate(tasks):
            if t["domain"] is None:
                known = i < len(inferred) and inferred[i] in self.domains
                t["domain"] = inferred[i] if known else next(iter(self.domains))
        s = OrcState(tasks=tasks)
        loaded = context.get("ratings") or {}
        for domain, spec in self.domains.items():
            s.ratings[domain] = {a: {**blank_rating(), **(loaded.get(domain, {}).get(a) or {})} for a in spec["agents"]}
            s.leaders[domain] = self._best(s, domain, qualified=True) or spec["agents"][0]
        for domain, agents in loaded.items():  # keep who led before, if still qualified
            for agent, record in agents.items():
                if record.get("is_leader") and domain in self.domains and agent in self.domains[domain]["agents"]:
                    s.leaders[domain] = agent
        actions: list = [PostMessage(self.room, "task", task, is_human=True)]
        return self._begin_task(s, actions)

    def on_fact(self, state: Mapping[str, Any], fact: Fact) -> Transition:
        s = OrcState(**json.loads(json.dumps(state)))
        if isinstance(fact, MembersChanged):
            return Transition(s.dump())
        if not isinstance(fact, StepFinished):
            raise StrategyError(f"ORC cannot handle {type(fact).__name__}.")
        prefix = f"t{s.index + 1}-"
        session = self._session(prefix)
        if s.phase == "judge" and session.owns(fact.key):
            judging, steps, verdict = session.on_result(s.judging, fact.key, fact.result)
            s.judging = judging
            if verdict is None:
                return Transition(s.dump(), tuple(steps))
            return self._decide(s, verdict, [])
        if s.phase == "answer" and fact.key == f"{prefix}answer":
            return self._answered(s, fact)
        if s.phase == "trial" and fact.key.startswith(f"{prefix}trial-"):
            agent = fact.key.removeprefix(f"{prefix}trial-")
            if agent in s.contestants and agent not in s.submissions:
                r = fact.result
                s.submissions[agent] = Submission(
                    agent,
                    r.content if r.ok else (r.error or r.outcome.value),
                    ok=r.ok,
                    latency_ms=r.latency_ms,
                    cost=float(r.usage.cost),
                ).to_dict()
                actions: list = [PostMessage(self.room, agent, r.content if r.ok else f"(failed: {r.error})")]
                if len(s.submissions) < len(s.contestants):
                    return Transition(s.dump(), tuple(actions))
                return self._judge(s, actions)
        raise StrategyError(f"ORC was not waiting for {fact.key!r}.")

    # ---- one task ------------------------------------------------------------------------

    def _begin_task(self, s: OrcState, actions: list) -> Transition:
        if s.index >= len(s.tasks):
            return self._finish(s, actions)
        t = s.tasks[s.index]
        domain = t["domain"]
        leader = s.leaders[domain]
        prefix = f"t{s.index + 1}-"
        challengers = self._challengers(s, domain)
        s.submissions, s.judging = {}, {}
        if not challengers:
            s.phase = "answer"
            s.contestants = [leader]
            step = RunStep(key=f"{prefix}answer", agent=leader, input=t["task"], room=self.room)
            return Transition(s.dump(), (*actions, step, self._progress(s)))
        s.phase = "trial"
        s.contestants = [leader, *challengers]
        for agent in challengers:
            s.last_challenge[f"{domain}/{agent}"] = s.index
        names = ", ".join(challengers)
        actions.append(PostMessage(self.room, "system", f"Task {s.index + 1} [{domain}]: {names} challenge {leader}."))
        for agent in s.contestants:
            actions.append(
                RunStep(
                    key=f"{prefix}trial-{agent}",
                    agent=agent,
                    input=t["task"],
                    room=self.room,
                    timeout_s=self.trial_timeout_s,
                )
            )
        return Transition(s.dump(), (*actions, self._progress(s)))

    def _challengers(self, s: OrcState, domain: str) -> list[str]:
        leader = s.leaders[domain]
        ratings = s.ratings[domain]
        eligible = [
            a
            for a in self.domains[domain]["agents"]
            if a != leader
            and ratings[a]["rating"] >= self.min_rating
            and (f"{domain}/{a}" not in s.last_challenge or s.index - s.last_challenge[f"{domain}/{a}"] > self.cooldown)
        ]
        if not eligible:
            return []
        rng = random.Random(f"{self.seed}:{s.index}")
        if rng.random() >= self.probability:
            return []
        if self.contest != Contest.DUEL:
            return eligible
        if self.pick == Pick.RANDOM:
            return [rng.choice(eligible)]
        if self.pick == Pick.ROUND_ROBIN:
            position = s.rotation.get(domain, 0)
            s.rotation[domain] = position + 1
            return [eligible[position % len(eligible)]]
        return [max(eligible, key=lambda a: (ratings[a]["rating"], -eligible.index(a)))]

    def _answered(self, s: OrcState, fact: StepFinished) -> Transition:
        t = s.tasks[s.index]
        r = fact.result
        content = r.content if r.ok else ""
        s.answers.append({"task": s.index + 1, "domain": t["domain"], "agent": fact.agent, "answer": content})
        actions: list = [PostMessage(self.room, fact.agent, content if r.ok else f"(failed: {r.error})")]
        self._decay(s, t["domain"], [])
        s.index += 1
        return self._begin_task(s, actions)

    def _judge(self, s: OrcState, actions: list) -> Transition:
        t = s.tasks[s.index]
        s.phase = "judge"
        submissions = [Submission.from_dict(s.submissions[a]) for a in s.contestants]
        session = self._session(f"t{s.index + 1}-")
        judging, steps, verdict = session.begin(t["task"], submissions, expected=t["expected"])
        s.judging = judging
        if verdict is None:
            return Transition(s.dump(), (*actions, *steps, self._progress(s)))
        return self._decide(s, verdict, actions)

    def _decide(self, s: OrcState, verdict: Verdict, actions: list) -> Transition:
        t = s.tasks[s.index]
        domain = t["domain"]
        leader = s.leaders[domain]
        ratings = s.ratings[domain]
        before = {a: round(ratings[a]["rating"], 2) for a in s.contestants}
        scores = {a: verdict.scores.get(a, 0.0) for a in s.contestants}
        if self.contest == Contest.DUEL:
            winner = verdict.winner or leader  # a tie goes to the leader
            self._game(ratings, leader, s.contestants[1], 0.5 if verdict.winner is None else float(winner == leader))
        else:
            winner = self._multi(ratings, s.contestants, scores, verdict)
        for a in s.contestants:
            ratings[a]["trials"] += 1
        change = ""
        if winner != leader and ratings[winner]["trials"] >= self.min_trials:
            s.leaders[domain] = winner
            ratings[leader]["defence_streak"] = 0
            change = f"{winner} takes the lead in {domain} from {leader}."
        else:
            if winner != leader:
                change = f"{winner} won but has fewer than {self.min_trials} trials; {leader} keeps the lead."
            ratings[leader]["defence_streak"] += 1
            if self.max_defences and ratings[leader]["defence_streak"] >= self.max_defences:
                successor = self._best(s, domain, qualified=True, excluding=leader)
                if successor:
                    ratings[leader]["defence_streak"] = 0
                    s.leaders[domain] = successor
                    change = f"{leader} defended {self.max_defences} times; forced rotation to {successor}."
        answer_by = winner if s.submissions.get(winner, {}).get("ok") else leader
        answered = s.submissions.get(answer_by, {})
        answer = answered.get("content", "") if answered.get("ok") else ""
        s.answers.append({"task": s.index + 1, "domain": domain, "agent": answer_by, "answer": answer})
        s.trials.append(
            {
                "task": s.index + 1,
                "task_text": t["task"][:500],
                "domain": domain,
                "leader": leader,
                "challengers": s.contestants[1:],
                "winner": winner,
                "tie": verdict.winner is None,
                "verdict": verdict.to_dict(),
                "ratings_before": before,
                "ratings_after": {a: round(ratings[a]["rating"], 2) for a in s.contestants},
                "leader_after": s.leaders[domain],
            }
        )
        outcome = "tie: the leader keeps it" if verdict.winner is None else f"{winner} wins"
        note = f"Trial {s.index + 1} [{domain}]: {outcome}. {verdict.reasoning}"
        actions.append(PostMessage(self.room, "judge", note))
        if change:
            actions.append(PostMessage(self.room, "system", change))
        self._decay(s, domain, s.contestants)
        s.index += 1
        return self._begin_task(s, actions)

    def _game(self, ratings: dict[str, dict[str, Any]], a: str, b: str, score_a: float) -> None:
        ra, rb = ratings[a]["rating"], ratings[b]["rating"]
        ratings[a]["rating"] = elo_update(ra, rb, score_a, self.k_factor)
        ratings[b]["rating"] = elo_update(rb, ra, 1.0 - score_a, self.k_factor)
        for agent, score in ((a, score_a), (b, 1.0 - score_a)):
            ratings[agent]["wins" if score == 1.0 else "losses" if score == 0.0 else "ties"] += 1

    def _multi(self, ratings, contestants: list[str], scores: dict[str, float], verdict: Verdict) -> str:
        """Round robin: every pair plays, by the judge's scores. Tournament: a bracket in seed order
        (the leader first), the higher score going through; equal scores favour the higher seed."""
        if self.contest == Contest.ROUND_ROBIN:
            for i, a in enumerate(contestants):
                for b in contestants[i + 1 :]:
                    diff = scores[a] - scores[b]
                    self._game(ratings, a, b, 0.5 if abs(diff) < 1e-9 else float(diff > 0))
            best = max(scores.values())
            return next(a for a in contestants if abs(scores[a] - best) < 1e-9)
        field_ = list(contestants)
        while len(field_) > 1:
            next_round = []
            for i in range(0, len(field_) - 1, 2):
                a, b = field_[i], field_[i + 1]
                a_wins = scores[a] >= scores[b]
                self._game(ratings, a, b, 0.5 if abs(scores[a] - scores[b]) < 1e-9 else float(a_wins))
                next_round.append(a if a_wins else b)
            if len(field_) % 2:
                next_round.append(field_[-1])
            field_ = next_round
        return field_[0]

    def _decay(self, s: OrcState, domain: str, active: Sequence[str]) -> None:
        if not self.decay:
            return
        for agent, record in s.ratings[domain].items():
            if agent not in active:
                record["rating"] += (DEFAULT_RATING - record["rating"]) * self.decay

    def _best(self, s: OrcState, domain: str, *, qualified: bool, excluding: str | None = None) -> str | None:
        ratings = s.ratings[domain]
        agents = self.domains[domain]["agents"]
        pool = [a for a in agents if a != excluding and (not qualified or ratings[a]["trials"] >= self.min_trials)]
        if not pool:
            return None
        return max(pool, key=lambda a: (ratings[a]["rating"], -agents.index(a)))

    def _finish(self, s: OrcState, actions: list) -> Transition:
        s.phase = "done"
        if len(s.answers) == 1:
            result = s.answers[0]["answer"]
        else:
            result = "\n".join(f"{a['task']}. [{a['domain']}] {a['agent']}: {a['answer']}" for a in s.answers)
        if not any(a["answer"] for a in s.answers):
            return Transition(s.dump(), (*actions, self._progress(s), Fail("ORC: no task was answered.")))
        return Transition(s.dump(), (*actions, self._progress(s), Finish(result)))

    def _session(self, prefix: str) -> JudgeSession:
        return JudgeSession(self.judge, prefix=prefix, room=self.room, timeout_s=self.trial_timeout_s)

    def snapshot(self, state: Mapping[str, Any]) -> dict[str, Any]:
        return orc_snapshot(state)

    def _progress(self, s: OrcState) -> Progress:
        return Progress(self.snapshot(s.dump()))

    def judge_agents(self) -> list[str]:
        return judge_agents(self.judge) if self.judge.kind in (JudgeKind.LLM, JudgeKind.CONSENSUS) else []


def orc_snapshot(state: Mapping[str, Any]) -> dict[str, Any]:
    """Leaders and ratings per domain, and the trials so far (newest first)."""
    leaders = state.get("leaders", {})
    boards = []
    for domain, agents in state.get("ratings", {}).items():
        rows = sorted(agents.items(), key=lambda kv: -kv[1]["rating"])
        boards.append(
            {
                "domain": domain,
                "leader": leaders.get(domain),
                "rows": [{"agent": a, **r, "rating": round(r["rating"], 1)} for a, r in rows],
            }
        )
    tasks = state.get("tasks", [])
    return {
        "view": "orc",
        "task": state.get("index", 0) + 1,
        "tasks": len(tasks),
        "phase": state.get("phase", ""),
        "contestants": state.get("contestants", []),
        "boards": boards,
        "trials": list(reversed(state.get("trials", []))),
    }
