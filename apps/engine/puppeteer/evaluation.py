"""Run routing policies (choosers) over the same tasks and compare them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .environment import Chooser, Environment, Outcome, Task


@dataclass(frozen=True)
class EpisodeResult:
    task_id: str
    family: str
    agents: tuple[str, ...]
    success: bool
    cost: float
    reward: float


@dataclass
class PolicyResult:
    """Means over a policy's episodes, overall and per task family."""

    success: float
    mean_cost: float
    mean_reward: float
    mean_steps: float
    per_family: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "mean_cost": self.mean_cost,
            "mean_reward": self.mean_reward,
            "mean_steps": self.mean_steps,
            "per_family": {k: dict(v) for k, v in self.per_family.items()},
        }


@dataclass
class EvaluationReport:
    results: dict[str, PolicyResult]
    episodes: dict[str, list[EpisodeResult]]

    def trajectories(self, policy: str) -> list[tuple[str, ...]]:
        """The agent sequences one policy used (for ``fold_topology``)."""
        return [e.agents for e in self.episodes[policy]]

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: result.to_dict() for name, result in self.results.items()}


def run_episode(env: Environment, task: Task, chooser: Chooser, *, max_steps: int) -> list[Outcome]:
    """Let ``chooser`` route ``task`` until it terminates or ``max_steps`` agents have acted."""
    index = {a.name: i for i, a in enumerate(env.agents)}
    history: list[Outcome] = []
    while len(history) < max_steps:
        name = chooser(task, history)
        if name is None:
            break
        if name not in index:
            raise ValueError(f"The chooser picked {name!r}, which is not one of the agents {list(index)}.")
        history.append(env.act(task, history, index[name]))
    return history


def _summary(episodes: Sequence[EpisodeResult]) -> dict[str, float]:
    n = len(episodes)
    return {
        "success": sum(e.success for e in episodes) / n,
        "mean_cost": sum(e.cost for e in episodes) / n,
        "mean_reward": sum(e.reward for e in episodes) / n,
        "mean_steps": sum(len(e.agents) for e in episodes) / n,
        "episodes": n,
    }


def evaluate(
    env: Environment,
    tasks: Sequence[Task],
    choosers: Mapping[str, Chooser],
    *,
    max_steps: int,
    cost_weight: float = 0.1,
    success_reward: float = 1.0,
) -> EvaluationReport:
    """Every chooser on every task; reward = success_reward * solved - cost_weight * cost."""
    if not tasks:
        raise ValueError("Evaluation needs at least one task.")
    results: dict[str, PolicyResult] = {}
    all_episodes: dict[str, list[EpisodeResult]] = {}
    for name, chooser in choosers.items():
        episodes = []
        for task in tasks:
            history = run_episode(env, task, chooser, max_steps=max_steps)
            success = bool(env.solved(task, history))
            cost = sum(o.cost for o in history)
            episodes.append(
                EpisodeResult(
                    task_id=task.id,
                    family=task.family,
                    agents=tuple(o.agent for o in history),
                    success=success,
                    cost=cost,
                    reward=success_reward * success - cost_weight * cost,
                )
            )
        by_family: dict[str, list[EpisodeResult]] = defaultdict(list)
        for episode in episodes:
            by_family[episode.family].append(episode)
        overall = _summary(episodes)
        results[name] = PolicyResult(
            success=overall["success"],
            mean_cost=overall["mean_cost"],
            mean_reward=overall["mean_reward"],
            mean_steps=overall["mean_steps"],
            per_family={family: _summary(eps) for family, eps in sorted(by_family.items())},
        )
        all_episodes[name] = episodes
    return EvaluationReport(results=results, episodes=all_episodes)
