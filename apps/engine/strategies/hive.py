"""HIVE: leaderless consensus on a shared message bus.

Every round has two phases. First each live agent proposes an answer (from
round 2 on, revises it having seen everyone's proposals and the last tally,
in the input and in the room's history). Then each agent votes on the
distinct proposals (a ballot step; with ``voting: proposals`` an agent's
proposal is its vote, for agents that cannot read a ballot, such as the
built-in skills). Real votes are counted: a decision needs ``threshold`` of
the votes cast (and at least ``quorum`` of the voters taking part). Equal
counts break deterministically: the option proposed first wins.

Without a decision another round starts, up to ``max_rounds``; then the run
finishes with the plurality answer and the vote record marked as no
consensus. Agents that fail, time out or cast an unreadable ballot abstain
for that phase, visibly (room message, progress); after ``max_failures``
failures in a row an agent is dropped from the hive.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..config import ConfigReader
from ..errors import StrategyConfigError, StrategyError
from . import schema_parts as sp
from .base import Fact, Fail, Finish, MembersChanged, PostMessage, Progress, RunStep, StepFinished, Transition


class Voting:
    BALLOT = "ballot"  # a vote step per agent
    PROPOSALS = "proposals"  # an agent's proposal is its vote


class Phase:
    PROPOSE = "propose"
    VOTE = "vote"
    DONE = "done"


def normalise(answer: str) -> str:
    """The form answers are compared in: case, spacing and trailing punctuation ignored."""
    return re.sub(r"\s+", " ", answer).strip().strip(".!").strip().casefold()


@dataclass
class HiveState:
    task: str
    round: int = 0
    phase: str = Phase.PROPOSE
    live: list[str] = field(default_factory=list)  # agents still in the hive
    failures: dict[str, int] = field(default_factory=dict)  # consecutive failures per agent
    pending: list[str] = field(default_factory=list)  # agents whose step of this phase is out
    proposals: dict[str, str] = field(default_factory=dict)  # this round: agent -> answer
    options: list[dict[str, Any]] = field(default_factory=list)  # this round: [{text, key, by}]
    votes: dict[str, int | None] = field(default_factory=dict)  # this round: agent -> option index / None
    abstained: dict[str, str] = field(default_factory=dict)  # this round: agent -> why
    first_seen: dict[str, list[int]] = field(default_factory=dict)  # normalised answer -> [round, order]
    record: list[dict[str, Any]] = field(default_factory=list)  # one entry per finished round
    outcome: dict[str, Any] = field(default_factory=dict)

    def dump(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.__dict__))


class HiveStrategy:
    """Config keys: ``agents`` (default: every member), ``threshold`` (0.7), ``quorum`` (0.5),
    ``max_rounds`` (3), ``voting`` (ballot | proposals), ``max_failures`` (2),
    ``step_timeout_s``, ``room``."""

    name: ClassVar[str] = "hive"
    config_only: ClassVar[bool] = True  # built from its config and members alone (see registry)
    roles: ClassVar[tuple[dict[str, Any], ...]] = (
        {"role": "agents", "key": "agents", "many": True, "description": "Propose and vote, as equals."},
    )
    config_schema: ClassVar[dict[str, Any]] = sp.config(
        {
            "agents": sp.members(
                "Agents",
                "Who proposes and votes (default: every member).",
                role="agents",
                error="Must be a non-empty list of member names, each once.",
            )
            | {"uniqueItems": True},
            "threshold": sp.number(
                "Threshold",
                "The share of the votes cast a proposal needs to be decided.",
                default=0.7,
                minimum=0.01,
                maximum=1,
            ),
            "quorum": sp.number(
                "Quorum",
                "The share of the agents that must vote for a round to count.",
                default=0.5,
                minimum=0,
                maximum=1,
            ),
            "max_rounds": sp.integer(
                "Rounds",
                "After this many rounds the plurality wins, marked no consensus.",
                default=3,
                minimum=1,
                maximum=50,
            ),
            "voting": sp.choice(
                "Voting",
                "ballot: a vote step per agent; proposals: an agent's proposal is its vote.",
                (Voting.BALLOT, Voting.PROPOSALS),
                default=Voting.BALLOT,
            ),
            "max_failures": sp.integer(
                "Failures",
                "An agent failing this many steps in a row leaves the hive.",
                default=2,
                minimum=1,
                maximum=100,
            ),
            "step_timeout_s": sp.number(
                "Step timeout (seconds)",
                "How long one proposal or vote may take (default: no limit).",
                minimum=0.1,
                maximum=3600,
            )
            | {"type": ["number", "null"]},
            "room": sp.room("hive"),
        }
    )

    def __init__(self, config: Mapping[str, Any] | None, members: Sequence[str]) -> None:
        reader = ConfigReader(
            config,
            allowed={"agents", "threshold", "quorum", "max_rounds", "voting", "max_failures", "step_timeout_s", "room"},
            error=StrategyConfigError,
        )
        agents = reader.config.get("agents", list(members))
        if not isinstance(agents, list) or not agents or not all(isinstance(a, str) for a in agents):
            reader.error("agents", "Must be a non-empty list of member names.")
            agents = []
        for name in agents:
            if name not in members:
                reader.error("agents", f"Unknown agent {name!r}: not a member of this swarm.")
        if len(set(agents)) != len(agents):
            reader.error("agents", "List each agent once.")
        self.agents: list[str] = list(dict.fromkeys(agents))
        self.threshold = reader.number("threshold", 0.7, minimum=0.01, maximum=1.0) or 0.7
        self.quorum = reader.number("quorum", 0.5, minimum=0.0, maximum=1.0)
        self.quorum = 0.5 if self.quorum is None else self.quorum
        self.max_rounds = reader.integer("max_rounds", 3, minimum=1, maximum=50) or 3
        self.voting = reader.choice("voting", Voting.BALLOT, (Voting.BALLOT, Voting.PROPOSALS))
        self.max_failures = reader.integer("max_failures", 2, minimum=1, maximum=100) or 2
        self.step_timeout_s = reader.number("step_timeout_s", None, minimum=0.1, maximum=3600)
        self.room = reader.string("room", "hive", required=True)
        reader.raise_if_invalid("hive")

    # ---- transitions ------------------------------------------------------------------

    def start(self, task: str) -> Transition:
        s = HiveState(task=task, live=list(self.agents))
        actions: list = [PostMessage(self.room, "task", task, is_human=True)]
        return self._next_round(s, actions)

    def on_fact(self, state: Mapping[str, Any], fact: Fact) -> Transition:
        s = HiveState(**json.loads(json.dumps(state)))
        if isinstance(fact, MembersChanged):
            return self._members_changed(s, fact)
        if not isinstance(fact, StepFinished):
            raise StrategyError(f"HIVE cannot handle {type(fact).__name__}.")
        phase, agent = self._parse_key(s, fact.key)
        if phase != s.phase or agent not in s.pending:
            raise StrategyError(f"HIVE was not waiting for {fact.key!r}.")
        s.pending.remove(agent)
        actions: list = []
        result = fact.result
        if not result.ok:
            reason = f"{result.outcome.value}: {result.error}" if result.error else result.outcome.value
            self._abstain(s, agent, reason, actions)
        elif phase == Phase.PROPOSE:
            s.failures[agent] = 0
            answer = _answer(result.content)
            if not answer:
                self._abstain(s, agent, "empty proposal", actions, failure=False)
            else:
                s.proposals[agent] = answer
                actions.append(PostMessage(self.room, agent, f"Proposal (round {s.round}): {answer}"))
        else:
            s.failures[agent] = 0
            choice = _ballot(result.content, s.options)
            if choice is None:
                self._abstain(s, agent, f"unreadable ballot {result.content[:80]!r}", actions, failure=False)
            else:
                s.votes[agent] = choice
                actions.append(PostMessage(self.room, agent, f"Vote (round {s.round}): {s.options[choice]['text']}"))
        if s.pending:
            return Transition(s.dump(), (*actions, self._progress(s)))
        if phase == Phase.PROPOSE:
            return self._proposals_in(s, actions)
        return self._count(s, actions)

    # ---- phases -----------------------------------------------------------------------

    def _next_round(self, s: HiveState, actions: list) -> Transition:
        if not s.live:
            return self._conclude(s, actions, reason="every agent has failed")
        s.round += 1
        s.phase = Phase.PROPOSE
        previous = s.record[-1] if s.record else None
        s.proposals, s.options, s.votes, s.abstained = {}, [], {}, {}
        s.pending = list(s.live)
        for agent in s.live:
            actions.append(
                RunStep(
                    key=f"r{s.round}-propose-{agent}",
                    agent=agent,
                    input=self._proposal_brief(s, agent, previous),
                    room=self.room,
                    timeout_s=self.step_timeout_s,
                )
            )
        return Transition(s.dump(), (*actions, self._progress(s)))

    def _proposals_in(self, s: HiveState, actions: list) -> Transition:
        by_text: dict[str, dict[str, Any]] = {}
        for order, agent in enumerate(a for a in self.agents if a in s.proposals):
            answer = s.proposals[agent]
            key = normalise(answer)
            s.first_seen.setdefault(key, [s.round, order])
            option = by_text.setdefault(key, {"text": answer, "key": key, "by": []})
            option["by"].append(agent)
        s.options = sorted(by_text.values(), key=lambda o: tuple(s.first_seen[o["key"]]))
        if not s.options:
            s.record.append(self._round_record(s, {}, decided=None))
            actions.append(PostMessage(self.room, "system", f"Round {s.round}: no proposals."))
            return self._after_round(s, actions)
        if self.voting == Voting.PROPOSALS:
            index = {o["key"]: i for i, o in enumerate(s.options)}
            s.votes = {a: index[normalise(p)] for a, p in s.proposals.items()}
            return self._count(s, actions)
        s.phase = Phase.VOTE
        s.pending = list(s.live)
        ballot = self._ballot_text(s)
        for agent in s.live:
            actions.append(
                RunStep(
                    key=f"r{s.round}-vote-{agent}",
                    agent=agent,
                    input=ballot,
                    room=self.room,
                    timeout_s=self.step_timeout_s,
                )
            )
        return Transition(s.dump(), (*actions, self._progress(s)))

    def _count(self, s: HiveState, actions: list) -> Transition:
        tally = _tally(s.votes, len(s.options))
        cast = sum(tally)
        voters = len(set(s.live) | set(s.abstained))
        decided = None
        if cast and cast >= self.quorum * max(1, voters):
            best = _best(tally)
            if tally[best] / cast >= self.threshold - 1e-9:
                decided = best
        s.record.append(self._round_record(s, dict(enumerate(tally)), decided=decided))
        summary = ", ".join(f"{o['text']!r}: {n}" for o, n in zip(s.options, tally, strict=True))
        if s.abstained:
            summary += f"; abstained: {', '.join(sorted(s.abstained))}"
        actions.append(PostMessage(self.room, "system", f"Round {s.round} votes ({cast} cast): {summary}."))
        if decided is not None:
            answer = s.options[decided]["text"]
            s.phase = Phase.DONE
            s.outcome = {"consensus": True, "answer": answer, "round": s.round, "support": tally[decided] / cast}
            actions.append(
                PostMessage(self.room, "system", f"Consensus in round {s.round}: {answer} ({tally[decided]}/{cast}).")
            )
            return Transition(s.dump(), (*actions, self._progress(s), Finish(answer)))
        return self._after_round(s, actions)

    def _after_round(self, s: HiveState, actions: list) -> Transition:
        if s.round >= self.max_rounds:
            return self._conclude(s, actions, reason=f"no consensus after {s.round} rounds")
        return self._next_round(s, actions)

    def _conclude(self, s: HiveState, actions: list, *, reason: str) -> Transition:
        """No consensus: the plurality of the last round with votes (or proposals) wins."""
        s.phase = Phase.DONE
        s.pending = []
        last = next((r for r in reversed(s.record) if sum(r["tally"].values())), None)
        if last is None:
            last = next((r for r in reversed(s.record) if r["options"]), None)
            if last is None:
                s.outcome = {"consensus": False, "answer": None, "reason": reason}
                return Transition(s.dump(), (*actions, self._progress(s), Fail(f"HIVE: {reason}; no answers at all.")))
            tally = [len(o["by"]) for o in last["options"]]
        else:
            tally = [last["tally"][str(i)] for i in range(len(last["options"]))]
        best = _best(tally)
        answer = last["options"][best]["text"]
        total = sum(tally)
        s.outcome = {
            "consensus": False,
            "answer": answer,
            "round": last["round"],
            "support": tally[best] / total if total else 0.0,
            "reason": reason,
        }
        note = f"No consensus ({reason}): plurality answer {answer!r} with {tally[best]} of {total} votes."
        actions.append(PostMessage(self.room, "system", note))
        return Transition(s.dump(), (*actions, self._progress(s), Finish(f"{answer}\n\n({note})")))

    # ---- helpers ----------------------------------------------------------------------

    def _parse_key(self, s: HiveState, key: str) -> tuple[str, str]:
        match = re.fullmatch(r"r(\d+)-(propose|vote)-(.+)", key)
        if not match or int(match.group(1)) != s.round:
            raise StrategyError(f"HIVE was not waiting for {key!r}.")
        return match.group(2), match.group(3)

    def _abstain(self, s: HiveState, agent: str, reason: str, actions: list, *, failure: bool = True) -> None:
        s.abstained[agent] = f"{s.phase}: {reason}"
        actions.append(PostMessage(self.room, "system", f"{agent} abstains from the {s.phase} ({reason})."))
        if not failure:
            return
        s.failures[agent] = s.failures.get(agent, 0) + 1
        if s.failures[agent] >= self.max_failures and agent in s.live:
            s.live.remove(agent)
            actions.append(
                PostMessage(self.room, "system", f"{agent} failed {s.failures[agent]} times in a row; it leaves.")
            )

    def _members_changed(self, s: HiveState, fact: MembersChanged) -> Transition:
        actions: list = []
        for name in fact.left:
            if name in s.live:
                s.live.remove(name)
            if name in s.pending:
                s.pending.remove(name)
                s.abstained[name] = f"{s.phase}: left the run"
        if s.phase == Phase.DONE or s.pending or not fact.left:
            return Transition(s.dump(), (self._progress(s),))
        if s.phase == Phase.PROPOSE:
            return self._proposals_in(s, actions)
        return self._count(s, actions)

    def _proposal_brief(self, s: HiveState, agent: str, previous: dict[str, Any] | None) -> str:
        lines = [f"Task: {s.task}", f"Round {s.round} of {self.max_rounds}. Propose your answer."]
        if previous:
            lines.append("Proposals and votes of the last round:")
            for i, option in enumerate(previous["options"]):
                votes = previous["tally"].get(str(i), 0)
                lines.append(f"- {option['text']} (by {', '.join(option['by'])}; {votes} votes)")
            lines.append("Revise your answer if you are persuaded; otherwise keep it.")
        lines.append('Reply with the answer only (or JSON {"answer": "..."}).')
        return "\n".join(lines)

    def _ballot_text(self, s: HiveState) -> str:
        lines = [f"VOTE (round {s.round}) on the task: {s.task}", "Options:"]
        lines += [f"{i + 1}. {o['text']}" for i, o in enumerate(s.options)]
        lines.append('Reply with the number of the option you support (or JSON {"vote": <number>}).')
        return "\n".join(lines)

    def _round_record(self, s: HiveState, tally: Mapping[int, int], *, decided: int | None) -> dict[str, Any]:
        return {
            "round": s.round,
            "options": [{"text": o["text"], "by": list(o["by"])} for o in s.options],
            "votes": {a: v for a, v in s.votes.items()},
            "tally": {str(i): n for i, n in tally.items()},
            "abstained": dict(s.abstained),
            "decided": decided,
        }

    def snapshot(self, state: Mapping[str, Any]) -> dict[str, Any]:
        return hive_snapshot(state, agents=self.agents, threshold=self.threshold)

    def _progress(self, s: HiveState) -> Progress:
        return Progress(self.snapshot(s.dump()))


def hive_snapshot(
    state: Mapping[str, Any], *, agents: Sequence[str] | None = None, threshold: float | None = None
) -> dict[str, Any]:
    """What the run page shows: the current round, each agent's status, every round's votes."""
    live = set(state.get("live", []))
    pending = set(state.get("pending", []))
    names = list(agents or [])
    names += [a for a in [*state.get("live", []), *state.get("failures", {})] if a not in names]
    rows = []
    for agent in names:
        if agent in state.get("abstained", {}):
            status, note = "abstained", state["abstained"][agent]
        elif agent in pending:
            status, note = "thinking", ""
        elif agent not in live:
            status, note = "out", "left the hive"
        elif state.get("phase") == Phase.VOTE and agent in state.get("votes", {}):
            status, note = "voted", ""
        else:
            status, note = "ready", ""
        rows.append(
            {"agent": agent, "status": status, "note": note, "proposal": state.get("proposals", {}).get(agent, "")}
        )
    rounds = []
    for r in state.get("record", []):
        cast = sum(r["tally"].values())
        options = [
            {
                "text": o["text"],
                "by": o["by"],
                "votes": r["tally"].get(str(i), 0),
                "percent": round(100 * r["tally"].get(str(i), 0) / cast) if cast else 0,
                "decided": r["decided"] == i,
            }
            for i, o in enumerate(r["options"])
        ]
        abstained = [{"agent": a, "why": why} for a, why in r["abstained"].items()]
        rounds.append({"round": r["round"], "cast": cast, "options": options, "abstained": abstained})
    return {
        "view": "hive",
        "round": state.get("round", 0),
        "phase": state.get("phase", ""),
        "threshold": threshold,
        "agents": rows,
        "rounds": rounds,
        "outcome": state.get("outcome") or {},
    }


def _answer(text: str) -> str:
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            return stripped
        if isinstance(data, Mapping) and isinstance(data.get("answer"), str | int | float):
            return str(data["answer"]).strip()
    return stripped


def _ballot(text: str, options: Sequence[Mapping[str, Any]]) -> int | None:
    """The option index a ballot names: a number (1-based), JSON {"vote": n or text}, or an option's text."""
    stripped = text.strip()
    value: Any = stripped
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
            value = data.get("vote") if isinstance(data, Mapping) else None
        except ValueError:
            value = stripped
    if isinstance(value, int) and not isinstance(value, bool):
        return value - 1 if 1 <= value <= len(options) else None
    value = str(value or "").strip()
    if re.fullmatch(r"#?\d+\.?", value) and 1 <= int(value.strip("#.")) <= len(options):
        return int(value.strip("#.")) - 1
    key = normalise(value)
    for i, option in enumerate(options):
        if option["key"] == key:
            return i
    return None


def _tally(votes: Mapping[str, int | None], count: int) -> list[int]:
    tally = [0] * count
    for choice in votes.values():
        if choice is not None:
            tally[choice] += 1
    return tally


def _best(tally: Sequence[int]) -> int:
    """The most voted option; options are ordered by first proposal, so the earliest wins a tie."""
    return max(range(len(tally)), key=lambda i: (tally[i], -i))
