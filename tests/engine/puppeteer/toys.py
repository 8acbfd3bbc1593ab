"""Tiny environments and a cheap embedder for the orchestrator's tests."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from apps.engine.puppeteer import AgentOption, Checker, Outcome, Task, check_answer


class HashEmbedder:
    """A deterministic stand-in for the sentence embedder: one random unit vector per text."""

    def __init__(self, dim: int = 16) -> None:
        self.dim = dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows = []
        for text in texts:
            vector = np.random.default_rng(zlib.crc32(text.encode())).standard_normal(self.dim)
            rows.append(vector / np.linalg.norm(vector))
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dim)


class EchoEnvironment:
    """Each agent answers with its own name; a task is solved when the last answer is the expected name.

    Records every call so tests can check what ran.
    """

    def __init__(self, costs: dict[str, float]) -> None:
        self._agents = tuple(AgentOption(name, cost) for name, cost in costs.items())
        self.calls: list[tuple[str, str]] = []

    @property
    def agents(self) -> Sequence[AgentOption]:
        return self._agents

    def act(self, task: Task, history: Sequence[Outcome], agent_index: int) -> Outcome:
        agent = self._agents[agent_index]
        self.calls.append((task.id, agent.name))
        return Outcome(agent.name, agent.name, agent.cost, True, "text")

    def solved(self, task: Task, history: Sequence[Outcome]) -> bool:
        return bool(history) and check_answer(task.checker, task.expected, history[-1].output)


def task(text: str, expected: str, *, family: str = "", id: str = "") -> Task:
    return Task(text, expected, Checker("exact"), family=family, id=id or text)
