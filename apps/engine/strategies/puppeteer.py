"""Puppeteer: a trained orchestrator policy picks which agent acts next, or stops.

Each turn the policy sees the task and what every earlier agent produced (the
same features it was trained on) and chooses a member or the terminate
action. Terminate, or the step limit, finishes the run with the last agent's
output. Every decision is published as progress (agent chosen, step) and the
steps form the trajectory like any run.

The policy itself lives outside the engine's state: a ``PolicySource`` (the
platform registers one that loads checkpoints from training runs) turns the
config's ``training_run`` into a ``LoadedPolicy``. Sampled choices use a
generator seeded from the run's seed and the turn number, so replaying the
same facts gives the same decisions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Protocol

from ..config import ConfigReader
from ..errors import StrategyConfigError, StrategyError
from . import schema_parts as sp
from .base import Fact, Fail, Finish, MembersChanged, Progress, RunStep, StepFinished, Transition


class Choose(Protocol):
    def __call__(self, task: str, outputs: Sequence[Mapping[str, Any]], *, greedy: bool, seed: int) -> str | None: ...


@dataclass(frozen=True)
class LoadedPolicy:
    """A trained policy, the agents it routes between, and what a call costs in its training units.

    ``choose(task, outputs, greedy=, seed=)`` gets the earlier turns as dicts
    (agent, output, ok, cost) and returns an agent name, or None to stop.
    """

    agent_names: tuple[str, ...]
    call_costs: Mapping[str, float]
    choose: Choose


PolicySource = Callable[[int], LoadedPolicy]
_policy_source: PolicySource | None = None


def use_policy_source(source: PolicySource | None) -> None:
    """Register how ``training_run`` ids become policies (the learning app does it when Django starts)."""
    global _policy_source
    _policy_source = source


@dataclass
class PuppeteerState:
    task: str
    turn: int = 0
    outputs: list[dict[str, Any]] = field(default_factory=list)
    choices: list[str] = field(default_factory=list)
    finished: bool = False


class PuppeteerStrategy:
    """Config keys: ``training_run`` (id of a completed or stopped training run), ``greedy`` (default true),
    ``max_steps`` (default 8), ``seed`` (for sampled choices)."""

    name: ClassVar[str] = "puppeteer"
    roles: ClassVar[tuple[dict[str, Any], ...]] = ()  # the policy routes between the agents it was trained on
    config_schema: ClassVar[dict[str, Any]] = sp.config(
        {
            "training_run": sp.integer(
                "Training run",
                "The completed or stopped training run whose policy picks the next agent.",
                minimum=1,
                format="training-run",
            ),
            "greedy": sp.boolean(
                "Greedy", "Always take the policy's likeliest choice (off: sample, with the seed).", default=True
            ),
            "max_steps": sp.integer("Steps", "The most agent steps in a run.", default=8, minimum=1, maximum=100),
            "seed": sp.integer("Seed", "Makes sampled choices repeatable.", default=0, minimum=0),
        },
        required=("training_run",),
    )

    def __init__(self, config: Mapping[str, Any] | None, members: Sequence[str]) -> None:
        reader = ConfigReader(
            config, allowed={"training_run", "greedy", "max_steps", "seed"}, error=StrategyConfigError
        )
        training_run = self.training_run = reader.integer("training_run", None, minimum=1)
        if training_run is None:
            reader.error("training_run", "Name the training run whose policy orchestrates this swarm.")
        self.greedy = reader.config.get("greedy", True)
        if not isinstance(self.greedy, bool):
            reader.error("greedy", "Must be true or false.")
        self.max_steps = reader.integer("max_steps", 8, minimum=1, maximum=100)
        self.seed = reader.integer("seed", 0, minimum=0)
        self.policy: LoadedPolicy | None = None
        if training_run is not None:
            if _policy_source is None:
                reader.error("training_run", "No policy source is configured in this process.")
            else:
                try:
                    self.policy = _policy_source(training_run)
                except LookupError as exc:
                    reader.error("training_run", str(exc))
        if self.policy is not None:
            missing = [n for n in self.policy.agent_names if n not in members]
            if missing:
                reader.error(
                    "training_run",
                    f"The policy routes between agents the swarm lacks: {', '.join(missing)}. "
                    "Add them as members, or train on this swarm.",
                )
        reader.raise_if_invalid("puppeteer")

    # ---- protocol ----------------------------------------------------------------

    def start(self, task: str) -> Transition:
        return self._next(PuppeteerState(task=task))

    def on_fact(self, state: Mapping[str, Any], fact: Fact) -> Transition:
        st = PuppeteerState(**state)
        if st.finished:
            return Transition(asdict(st))
        if isinstance(fact, MembersChanged):
            return Transition(asdict(st))
        if not isinstance(fact, StepFinished):
            raise StrategyError(f"Puppeteer does not expect {type(fact).__name__}.")
        result = fact.result
        output = result.content if result.ok else result.error
        cost = float(self.policy.call_costs.get(fact.agent, 1.0)) + result.usage.total_tokens / 1000.0
        st.outputs.append({"agent": fact.agent, "output": output, "ok": result.ok, "cost": cost})
        return self._next(st)

    # ---- helpers -------------------------------------------------------------------

    def _next(self, st: PuppeteerState) -> Transition:
        choice: str | None = None
        if st.turn < self.max_steps:
            seed = self.seed * 100_003 + st.turn
            choice = self.policy.choose(st.task, st.outputs, greedy=self.greedy, seed=seed)
        if choice is None:
            st.finished = True
            progress = Progress(self.snapshot(asdict(st)))
            if not st.outputs:
                return Transition(asdict(st), (progress, Fail("The policy stopped before any agent acted.")))
            return Transition(asdict(st), (progress, Finish(st.outputs[-1]["output"])))
        st.turn += 1
        st.choices.append(choice)
        step_input = compose_input(st.task, st.outputs)
        progress = Progress(self.snapshot(asdict(st)))
        return Transition(asdict(st), (progress, RunStep(key=f"turn-{st.turn}", agent=choice, input=step_input)))

    def snapshot(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """The run page's panel: each turn's choice, whether that agent's output was usable, the cost so far."""
        outputs = list(state.get("outputs", []))
        turns, spent = [], 0.0
        for i, choice in enumerate(state.get("choices", [])):
            done = outputs[i] if i < len(outputs) else None
            spent += done["cost"] if done else 0.0
            turns.append({"turn": i + 1, "agent": choice, "ok": done["ok"] if done else None, "cost": round(spent, 3)})
        return {
            "view": "puppeteer",
            "training_run": self.training_run,
            "greedy": self.greedy,
            "turns": turns,
            "stopped": bool(state.get("finished")) and len(outputs) == len(turns),
            "max_steps": self.max_steps,
        }


def compose_input(task: str, outputs: Sequence[Mapping[str, Any]]) -> str:
    """What the next agent reads: the task, then each earlier agent's output in order (runs and training alike)."""
    if not outputs:
        return task
    lines = [task, "", "Work so far:"]
    lines += [f"- {o['agent']}: {o['output']}" for o in outputs]
    return "\n".join(lines)
