"""Reference routing policies: random, a fixed chain, one agent alone, and the oracle.

All are ``Chooser``s (``chooser(task, history) -> agent name | None``) over any
``Environment``. The oracle and the chain search run the environment itself, so
they assume its ``act`` is deterministic (true of the built-in benchmark).
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Sequence

from .environment import Environment, Outcome, Task


class RandomChooser:
    """Uniform over the agents and the terminate action, seeded."""

    def __init__(self, env: Environment, *, seed: int = 0) -> None:
        self.names = [a.name for a in env.agents]
        self.rng = random.Random(seed)

    def __call__(self, task: Task, history: Sequence[Outcome]) -> str | None:
        pick = self.rng.randrange(len(self.names) + 1)
        return None if pick == len(self.names) else self.names[pick]


class FixedChain:
    """Calls the same agents in the same order on every task, then terminates."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)

    def __call__(self, task: Task, history: Sequence[Outcome]) -> str | None:
        return self.names[len(history)] if len(history) < len(self.names) else None


def single_agent(name: str) -> FixedChain:
    """One agent, once (e.g. the expensive generalist alone)."""
    return FixedChain((name,))


def cheapest_fixed_chain(
    env: Environment,
    tasks: Sequence[Task],
    *,
    max_steps: int,
    agents: Sequence[str] | None = None,
) -> tuple[str, ...]:
    """The fixed chain (of ``agents``, default all) solving most of ``tasks``; ties go to the cheapest.

    Exhaustive over chains of up to ``max_steps`` calls; histories are shared
    between chains with a common prefix.
    """
    names = [a.name for a in env.agents]
    allowed = [names.index(n) for n in (agents if agents is not None else names)]
    best: tuple[int, float, int] = (-1, 0.0, 0)
    best_chain: tuple[int, ...] = ()

    def visit(chain: tuple[int, ...], histories: list[list[Outcome]], costs: list[float]) -> None:
        nonlocal best, best_chain
        if chain:
            solved = sum(env.solved(t, h) for t, h in zip(tasks, histories, strict=True))
            score = (solved, -sum(costs), -len(chain))
            if score > best:
                best, best_chain = score, chain
        if len(chain) == max_steps:
            return
        for k in allowed:
            extended, spent = [], []
            for task, history, cost in zip(tasks, histories, costs, strict=True):
                outcome = env.act(task, history, k)
                extended.append([*history, outcome])
                spent.append(cost + outcome.cost)
            visit((*chain, k), extended, spent)

    visit((), [[] for _ in tasks], [0.0 for _ in tasks])
    return tuple(names[k] for k in best_chain)


def cheapest_solution(env: Environment, task: Task, *, max_steps: int) -> tuple[int, ...] | None:
    """The cheapest sequence of agent indices that leaves ``task`` solved, or None.

    Uniform-cost search over histories; ties go to fewer calls, then to lower indices.
    """
    counter = itertools.count()
    frontier: list = [(0.0, 0, (), next(counter), [])]
    while frontier:
        cost, _, chain, _, history = heapq.heappop(frontier)
        if env.solved(task, history):
            return chain
        if len(chain) == max_steps:
            continue
        for k in range(len(env.agents)):
            outcome = env.act(task, history, k)
            heapq.heappush(
                frontier, (cost + outcome.cost, len(chain) + 1, (*chain, k), next(counter), [*history, outcome])
            )
    return None


class Oracle:
    """Follows the cheapest correct sequence for each task (found by search); gives up at once if none exists."""

    def __init__(self, env: Environment, *, max_steps: int) -> None:
        self.env = env
        self.max_steps = max_steps
        self.names = [a.name for a in env.agents]
        self._plans: dict[tuple[str, str], tuple[int, ...] | None] = {}

    def plan(self, task: Task) -> tuple[int, ...] | None:
        key = (task.id, task.text)
        if key not in self._plans:
            self._plans[key] = cheapest_solution(self.env, task, max_steps=self.max_steps)
        return self._plans[key]

    def __call__(self, task: Task, history: Sequence[Outcome]) -> str | None:
        plan = self.plan(task) or ()
        return self.names[plan[len(history)]] if len(history) < len(plan) else None
