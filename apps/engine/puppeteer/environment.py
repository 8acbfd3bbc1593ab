"""What the orchestrator routes between: agents, tasks, outcomes and the environment seam.

An :class:`Environment` is anything that can run one of its agents on a task,
given what happened so far, and say whether the episode solved the task. The
built-in routing benchmark is one; a platform environment whose ``act()`` runs a
configured LLM or skill agent (cost = token usage) over an uploaded dataset is
another. Nothing in the trainer assumes more than this protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from ..judging import RuleMode, check

TERMINATE = "terminate"
"""The name under which the explicit stop action is reported (metrics, topology)."""


class OutcomeKind(StrEnum):
    """What an agent's output looks like; one of the policy's history features."""

    NUMBER = "number"
    TEXT = "text"
    EMPTY = "empty"
    ERROR = "error"


@dataclass(frozen=True)
class AgentOption:
    """One agent the orchestrator may call, with what a call costs (any consistent unit)."""

    name: str
    cost: float
    description: str = ""


@dataclass(frozen=True)
class Checker:
    """How a task's answer is judged: a ``RuleMode`` value and a numeric tolerance."""

    mode: str
    tolerance: float = 1e-6

    def __post_init__(self) -> None:
        RuleMode(self.mode)  # raises ValueError on an unknown mode


@dataclass(frozen=True)
class Task:
    """A task instance with its ground truth."""

    text: str
    expected: str
    checker: Checker
    family: str = ""
    id: str = ""


@dataclass(frozen=True)
class Outcome:
    """What one agent call produced.

    ``ok`` says the agent produced a usable output (it did not fail or come back
    empty); it is *not* the verdict on the task, which only ``Environment.solved``
    gives, once, at the end of an episode.
    """

    agent: str
    output: str
    cost: float
    ok: bool
    kind: str


@runtime_checkable
class Environment(Protocol):
    """The seam between the orchestrator and whatever runs agents.

    ``act`` runs ``agents[agent_index]`` on ``task`` after ``history`` and returns
    its outcome (the cost of the call included). ``solved`` judges the episode's
    answer (for the built-in benchmark: the last usable output) against the task.
    """

    @property
    def agents(self) -> Sequence[AgentOption]: ...

    def act(self, task: Task, history: Sequence[Outcome], agent_index: int) -> Outcome: ...

    def solved(self, task: Task, history: Sequence[Outcome]) -> bool: ...


class Chooser(Protocol):
    """A routing policy: the next agent's name, or None to terminate."""

    def __call__(self, task: Task, history: Sequence[Outcome]) -> str | None: ...


def check_answer(checker: Checker, expected: str, output: str) -> bool:
    """Whether ``output`` answers a task whose ground truth is ``expected``."""
    return check(RuleMode(checker.mode), output, expected, tolerance=checker.tolerance).passed


def last_usable_output(history: Sequence[Outcome]) -> str | None:
    """The most recent output an agent produced successfully, or None."""
    for outcome in reversed(history):
        if outcome.ok:
            return outcome.output
    return None
