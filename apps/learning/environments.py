"""Training environments over the platform: the built-in benchmark, or a swarm's real agents on a dataset.

``SwarmEnvironment`` implements the engine's ``Environment`` protocol with
real agents: ``act`` runs the chosen agent through the same executor as a run
step (skills, scripted replies, or an OpenAI-compatible model), with the task
and the earlier agents' outputs as its input and room history. The cost of a
call is its token usage in thousands of tokens plus the agent's configured
cost per call (``call_costs``, default 1 unit for agents that report no
tokens, so built-in skill agents are not free and the policy still learns to
call fewer of them).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from apps.agents.governance import check_may_act
from apps.agents.models import Agent
from apps.core.errors import FieldsError
from apps.engine.executor import run_agent_step
from apps.engine.governance import GovernanceError
from apps.engine.judging import last_number
from apps.engine.puppeteer import (
    AgentOption,
    Checker,
    Outcome,
    Task,
    check_answer,
    last_usable_output,
    routing_benchmark,
)
from apps.engine.strategies.puppeteer import compose_input
from apps.engine.values import ChatMessage, StepRequest

from .models import EnvironmentKind, TrainingRun
from .services import swarm_agents_of

DEFAULT_CALL_COST = 1.0
STEP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Setting:
    """What a training epoch or an evaluation needs: the environment and its task splits."""

    environment: Any
    train: list[Task]
    test: list[Task]
    chain_agents: tuple[str, ...] | None = None
    """The agents the cheapest-fixed-chain baseline is built from (None: all)."""
    generalist: str | None = None
    """The agent of the generalist-alone baseline (None: the costliest)."""


def output_kind(output: str, *, ok: bool = True) -> str:
    if not ok:
        return "error"
    if not output.strip():
        return "empty"
    if last_number(output) is not None and len(output.strip()) <= 40:
        return "number"
    return "text"


class SwarmEnvironment:
    """The agents of a swarm, run for real, as a training environment."""

    def __init__(
        self,
        agents: Sequence[Agent],
        *,
        call_costs: Mapping[str, float] | None = None,
        judges: Mapping[str, Agent] | None = None,
    ) -> None:
        self._agents = list(agents)
        self._judges = dict(judges or {})
        costs = dict(call_costs or {})
        self._call_costs = [float(costs.get(agent.name, DEFAULT_CALL_COST)) for agent in self._agents]
        self.agents = tuple(
            AgentOption(name=agent.name, cost=cost, description=agent.description)
            for agent, cost in zip(self._agents, self._call_costs, strict=True)
        )
        self._specs = [agent.to_spec() for agent in self._agents]
        self._calls = [0] * len(self._agents)

    def act(self, task: Task, history: Sequence[Outcome], agent_index: int) -> Outcome:
        agent = self._agents[agent_index]
        try:
            check_may_act(agent)
        except GovernanceError as error:
            # Governance holds during training too: a revoked privilege is a failed call, not a crash.
            return Outcome(agent=agent.name, output=str(error), cost=0.0, ok=False, kind="error")
        request = StepRequest(
            task=task.text,
            input=compose_input(task.text, [{"agent": o.agent, "output": o.output} for o in history]),
            step_key=f"train-{self._calls[agent_index]}",
            history=tuple(ChatMessage(sender=o.agent, content=o.output) for o in history),
            call_index=self._calls[agent_index],
            timeout_s=STEP_TIMEOUT_S,
        )
        self._calls[agent_index] += 1
        result = run_agent_step(self._specs[agent_index], request)
        cost = self._call_costs[agent_index] + result.usage.total_tokens / 1000.0
        output = result.content if result.ok else result.error
        return Outcome(agent=agent.name, output=output, cost=cost, ok=result.ok, kind=output_kind(output, ok=result.ok))

    def solved(self, task: Task, history: Sequence[Outcome]) -> bool:
        answer = last_usable_output(history)
        if answer is None:
            return False
        if _judge_name(task):
            return self._judge(task, answer)
        return check_answer(task.checker, task.expected, answer)

    def _judge(self, task: Task, answer: str) -> bool:
        """Ask the task's judge agent; it must reply JSON ``{"correct": true|false}`` (or start with yes/no)."""
        judge = self._judges.get(_judge_name(task))
        if judge is None:
            return False
        request = StepRequest(
            task=task.text,
            input=(
                f"Task: {task.text}\nWhat a correct answer must satisfy: {task.expected}\nAnswer: {answer}\n"
                'Reply with JSON {"correct": true} or {"correct": false}.'
            ),
            timeout_s=STEP_TIMEOUT_S,
        )
        result = run_agent_step(judge.to_spec(), request)
        return result.ok and parse_judgement(result.content)


def parse_judgement(reply: str) -> bool:
    text = reply.strip()
    match = re.search(r"\{.*\}", text, re.DOTALL)
    if match:
        try:
            data = json.loads(match.group(0))
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("correct"), bool):
            return data["correct"]
    return text.lower().startswith(("yes", "correct", "true"))


def _judge_name(task: Task) -> str:
    # The judge's name rides in the task id ("judge:<name>:<n>") so Task stays the engine's plain value.
    return task.id.split(":", 2)[1] if task.id.startswith("judge:") else ""


def dataset_tasks(rows: Sequence[Mapping[str, Any]]) -> list[Task]:
    tasks = []
    for n, row in enumerate(rows):
        judged = row["checker"] == "judge"
        ident = f"judge:{row['judge']}:{n}" if judged else str(row.get("id", n))
        tasks.append(
            Task(
                text=row["task"],
                expected=row["expected"],
                # Judged tasks are marked by their id; the rule checker is then unused.
                checker=Checker(mode="exact" if judged else row["checker"], tolerance=row.get("tolerance", 1e-6)),
                family=row.get("family", ""),
                id=ident,
            )
        )
    return tasks


def split(tasks: list[Task], *, test_fraction: float, seed: int) -> tuple[list[Task], list[Task]]:
    """A seeded shuffle, then the last ``test_fraction`` held out (at least one task each side)."""
    order = list(tasks)
    random.Random(seed).shuffle(order)
    held = min(len(order) - 1, max(1, round(len(order) * test_fraction)))
    return order[:-held], order[-held:]


def build_setting(run: TrainingRun) -> Setting:
    seed = int(run.config.get("seed", 0))
    if run.environment == EnvironmentKind.BUILTIN:
        bench = routing_benchmark(**run.benchmark)
        return Setting(
            environment=bench.environment,
            train=list(bench.train),
            test=list(bench.test),
            chain_agents=tuple(bench.specialists),
            generalist=bench.generalist,
        )
    if run.swarm is None or run.dataset is None:
        raise FieldsError("The swarm or the dataset of this training run was deleted.")
    agents = swarm_agents_of(run.swarm)
    by_name = {a.name: a for a in Agent.objects.filter(owner=run.owner)}
    judges = {name: by_name[name] for name in {t.get("judge") for t in run.dataset.tasks} if name in by_name}
    env = SwarmEnvironment(agents, call_costs=run.call_costs, judges=judges)
    train, test = split(dataset_tasks(run.dataset.tasks), test_fraction=run.dataset.test_fraction, seed=seed)
    return Setting(environment=env, train=train, test=test)
