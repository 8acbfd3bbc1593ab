"""Value objects shared by strategies, providers, services and the API.

All frozen: a value object is built once, passed around, and never mutated.
Enums hold every closed set of strings; their values are what the database
and the API store and show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any


class ProviderKind(StrEnum):
    """Where an agent's replies come from."""

    SKILL = "skill"  # built-in offline skills doing real work (calculator, python, ...)
    SCRIPTED = "scripted"  # replies taken from the agent's config, for demos and tests
    OPENAI = "openai"  # any OpenAI-compatible chat-completions endpoint


class StepOutcome(StrEnum):
    SUCCESS = "success"
    ERROR = "error"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"


class EventKind(StrEnum):
    """Kinds of run events. All are persisted in the run's append-only log except the
    live-only ones (``STEP_STARTED``, ``STEP_DELTA``, ``TOOL_CALLED``), which are relayed as they
    happen (a step's tool calls are kept in its record when it finishes)."""

    RUN_STATUS = "run.status"
    STEP_QUEUED = "step.queued"
    STEP_STARTED = "step.started"  # live only: the step row keeps started_at
    STEP_FINISHED = "step.finished"
    MESSAGE_POSTED = "message.posted"
    HUMAN_REQUESTED = "human.requested"
    HUMAN_ANSWERED = "human.answered"
    AGENT_JOINED = "agent.joined"
    AGENT_LEFT = "agent.left"
    STRATEGY_PROGRESS = "strategy.progress"
    STEP_DELTA = "step.delta"  # live only: token deltas of a streaming step
    TOOL_CALLED = "tool.called"  # live only: a tool call of a running step


class FieldKind(StrEnum):
    """Input kinds of a human request form."""

    TEXT = "text"
    TEXTAREA = "textarea"
    NUMBER = "number"
    BOOLEAN = "boolean"
    CHOICE = "choice"


@dataclass(frozen=True)
class Usage:
    """What a step consumed. Cost is in US dollars."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: Decimal = Decimal("0")

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class AgentSpec:
    """Everything the executor needs to run one agent, detached from the database.

    ``config`` is provider-specific and validated by that provider's
    ``parse_config`` before it is ever stored.
    """

    name: str
    provider: ProviderKind
    instructions: str = ""
    config: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChatMessage:
    """One message of a room's history as an agent sees it."""

    sender: str
    content: str
    is_human: bool = False


@dataclass(frozen=True)
class StepRequest:
    """The input of one agent step.

    ``call_index`` counts the agent's earlier steps in the same run, so a
    scripted agent can answer its n-th call deterministically.
    """

    task: str
    input: str
    step_key: str = ""
    history: tuple[ChatMessage, ...] = ()
    call_index: int = 0
    timeout_s: float = 120.0


@dataclass(frozen=True)
class StepResult:
    """The outcome of one agent step.

    ``done`` is the agent's explicit signal that it considers the
    conversation finished (the terminator skill, a scripted ``done`` reply);
    strategies read it instead of looking for magic words in ``content``.
    """

    outcome: StepOutcome
    content: str = ""
    error: str = ""
    usage: Usage = field(default_factory=Usage)
    latency_ms: int = 0
    done: bool = False
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.outcome is StepOutcome.SUCCESS


@dataclass(frozen=True)
class HumanField:
    """One input of a human request form."""

    name: str
    label: str = ""
    kind: FieldKind = FieldKind.TEXT
    required: bool = True
    choices: tuple[str, ...] = ()
    help: str = ""


@dataclass(frozen=True)
class HumanQuestion:
    """What a strategy asks a person: a prompt and the fields of the answer form."""

    prompt: str
    fields: tuple[HumanField, ...] = (HumanField(name="answer", label="Answer", kind=FieldKind.TEXTAREA),)


@dataclass(frozen=True)
class Budget:
    """Per-run limits. ``None`` means unlimited."""

    max_steps: int | None = None
    max_cost: Decimal | None = None
    max_seconds: int | None = None
    max_tokens: int | None = None


@dataclass(frozen=True)
class Spend:
    """What a run has used so far, compared against its ``Budget``."""

    steps: int = 0
    cost: Decimal = Decimal("0")
    seconds: float = 0.0
    tokens: int = 0


def exceeded_limit(budget: Budget, spend: Spend, *, extra_steps: int = 0) -> str | None:
    """Name the first limit that ``spend`` (plus ``extra_steps`` about to start) breaks.

    Returns a human-readable reason, or ``None`` when the run is within budget.
    Steps are checked before dispatch: a run with ``max_steps=3`` may start
    exactly three steps. Cost, tokens and time are checked on what was spent.
    """
    if budget.max_steps is not None and spend.steps + extra_steps > budget.max_steps:
        return f"step limit of {budget.max_steps} reached"
    if budget.max_cost is not None and spend.cost >= budget.max_cost:
        return f"cost limit of ${budget.max_cost} reached (spent ${spend.cost})"
    if budget.max_tokens is not None and spend.tokens >= budget.max_tokens:
        return f"token limit of {budget.max_tokens} reached (used {spend.tokens})"
    if budget.max_seconds is not None and spend.seconds >= budget.max_seconds:
        return f"time limit of {budget.max_seconds}s reached"
    return None
