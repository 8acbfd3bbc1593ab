"""The strategy protocol: (state, fact) -> (state, actions).

A strategy never does I/O. The run service feeds it facts (the run started,
a step finished, a human answered) together with the state it returned last
time, persists the new state, and turns the actions into database rows and
queued work. State must therefore be JSON-serialisable; strategies keep it
as a plain dict built from their own dataclass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from ..values import HumanQuestion, StepResult

# ---- facts: what happened -------------------------------------------------


@dataclass(frozen=True)
class RunStarted:
    task: str


@dataclass(frozen=True)
class StepFinished:
    key: str
    agent: str
    result: StepResult


@dataclass(frozen=True)
class HumanAnswered:
    key: str
    answer: Mapping[str, Any]


@dataclass(frozen=True)
class MembersChanged:
    """Agents joined the run (spawned by a member) or left it (terminated)."""

    joined: tuple[str, ...] = ()
    left: tuple[str, ...] = ()


Fact = RunStarted | StepFinished | HumanAnswered | MembersChanged

# ---- actions: what the strategy wants done ----------------------------------


@dataclass(frozen=True)
class RunStep:
    """Run ``agent`` on ``input``. ``key`` is unique within the run and comes
    back in the matching ``StepFinished``. With ``room`` set, the agent sees
    that room's recent history. ``delay_s`` postpones the start (retry
    backoff); ``timeout_s`` bounds the agent's call."""

    key: str
    agent: str
    input: str
    room: str | None = None
    delay_s: float = 0.0
    timeout_s: float | None = None


@dataclass(frozen=True)
class PostMessage:
    room: str
    sender: str
    content: str
    is_human: bool = False


@dataclass(frozen=True)
class AskHuman:
    key: str
    question: HumanQuestion


@dataclass(frozen=True)
class Progress:
    """A strategy-specific progress snapshot for viewers (e.g. DAG node states)."""

    data: dict[str, Any]


@dataclass(frozen=True)
class Finish:
    result: str


@dataclass(frozen=True)
class Fail:
    reason: str


Action = RunStep | PostMessage | AskHuman | Progress | Finish | Fail


@dataclass(frozen=True)
class Transition:
    state: dict[str, Any]
    actions: tuple[Action, ...] = field(default_factory=tuple)


class Strategy(Protocol):
    """A coordination strategy bound to one swarm's validated configuration.

    Implementations are constructed by ``build_strategy`` from a config
    mapping and the member names; the constructor validates and raises
    ``StrategyConfigError`` with per-field messages.
    """

    name: ClassVar[str]

    def start(self, task: str) -> Transition: ...

    def on_fact(self, state: Mapping[str, Any], fact: Fact) -> Transition: ...
