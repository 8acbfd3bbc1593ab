"""REINFORCE for the orchestrator: batched rollouts, reward-to-go, a baseline, one update per batch.

Each update rolls out ``batch_size`` episodes on tasks drawn from the training set.
At every step the states of all still-running episodes go through the policy in one
forward pass; the sampled actions are then carried out one by one by the
environment (that part is the environment's business: a skill call, an LLM call).
An episode ends when the policy picks terminate or after ``max_steps`` agent calls,
and is judged by ``Environment.solved``.

The loss is the usual policy gradient on normalised advantages (reward-to-go minus
the baseline), minus an entropy bonus, plus the value head's regression loss when
it is the baseline; gradients are clipped and applied with Adam.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from . import checkpoint as checkpoints
from .config import BaselineKind, TrainConfig
from .environment import TERMINATE, AgentOption, Environment, Task
from .features import StateEncoder, TextEmbedder
from .policy import Policy
from .returns import discounted_returns, normalize, step_rewards

logger = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _default_embedder() -> TextEmbedder:
    from ..embeddings import shared_embedder

    return shared_embedder()


@dataclass
class EpochMetrics:
    """What one ``train_epoch()`` did, averaged over its episodes (agent calls and terminations)."""

    epoch: int
    episodes: int
    mean_reward: float
    success_rate: float
    mean_cost: float
    mean_steps: float
    entropy: float
    loss: float
    agent_usage: dict[str, float] = field(default_factory=dict)
    episodes_per_s: float = 0.0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Rollout:
    """A batch of finished episodes, padded to ``max_steps`` columns."""

    log_probs: torch.Tensor  # (B, T), carries gradients
    entropies: torch.Tensor  # (B, T), carries gradients
    values: torch.Tensor  # (B, T), carries gradients
    costs: torch.Tensor  # (B, T)
    lengths: torch.Tensor  # (B,) steps taken, terminate included
    solved: torch.Tensor  # (B,) bool
    actions: np.ndarray  # (B, T), -1 on padding


class Trainer:
    """Trains a :class:`Policy` to route ``tasks`` through ``env``'s agents.

    ``embedder`` defaults to the shared sentence embedder; tests pass a cheap one.
    """

    def __init__(
        self,
        env: Environment,
        tasks: Sequence[Task],
        config: TrainConfig,
        *,
        embedder: TextEmbedder | None = None,
    ) -> None:
        if not tasks:
            raise ValueError("Training needs at least one task.")
        self.env = env
        self.tasks = list(tasks)
        self.config = config
        self.agents: tuple[AgentOption, ...] = tuple(env.agents)
        self.device = resolve_device(config.device)
        self.encoder = StateEncoder(
            [a.name for a in self.agents],
            [a.cost for a in self.agents],
            max_steps=config.max_steps,
            embedder=embedder or _default_embedder(),
        )
        self.task_vectors = self.encoder.embed_tasks([t.text for t in self.tasks])
        self.embedding_dim = int(self.task_vectors.shape[1])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.policy = Policy(self.embedding_dim, self.encoder.history_size, len(self.agents), config.hidden_size)
        self.policy.fit_embedding_stats(torch.from_numpy(self.task_vectors))
        self.policy.to(self.device)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.learning_rate, eps=1e-5)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.moving_baseline = torch.zeros(config.max_steps)
        self.epoch = 0
        self.episodes_seen = 0

    # -- rollouts ---------------------------------------------------------------------

    def sample_tasks(self, n: int) -> np.ndarray:
        return torch.randint(len(self.tasks), (n,), generator=self.generator).numpy()

    def rollout(self, task_ids: np.ndarray) -> Rollout:
        """Run one episode per task id, all in lock step; keeps the autograd graph."""
        env, cfg, device = self.env, self.config, self.device
        n, steps, terminate = len(task_ids), cfg.max_steps, len(self.agents)
        histories: list[list] = [[] for _ in range(n)]
        costs = np.zeros((n, steps), dtype=np.float32)
        lengths = np.zeros(n, dtype=np.int64)
        solved = np.zeros(n, dtype=bool)
        actions = np.full((n, steps), -1, dtype=np.int64)
        log_probs, entropies, values = [], [], []
        active = np.arange(n)
        for t in range(steps):
            if len(active) == 0:
                break
            states = self.encoder.encode(self.task_vectors[task_ids[active]], [histories[i] for i in active])
            dist, value = self.policy(torch.from_numpy(states).to(device))
            chosen = torch.multinomial(dist.probs.detach().cpu(), 1, generator=self.generator).squeeze(1)
            rows = (torch.from_numpy(active).to(device),)
            log_probs.append(torch.zeros(n, device=device).index_put(rows, dist.log_prob(chosen.to(device))))
            entropies.append(torch.zeros(n, device=device).index_put(rows, dist.entropy()))
            values.append(torch.zeros(n, device=device).index_put(rows, value))
            still = []
            for i, action in zip(active.tolist(), chosen.tolist(), strict=True):
                task = self.tasks[task_ids[i]]
                actions[i, t] = action
                lengths[i] = t + 1
                if action == terminate:
                    solved[i] = env.solved(task, histories[i])
                    continue
                outcome = env.act(task, histories[i], action)
                histories[i].append(outcome)
                costs[i, t] = outcome.cost
                if t == steps - 1:
                    solved[i] = env.solved(task, histories[i])
                else:
                    still.append(i)
            active = np.asarray(still, dtype=np.int64)
        pad = [torch.zeros(n, device=device)] * (steps - len(log_probs))
        return Rollout(
            log_probs=torch.stack(log_probs + pad, dim=1),
            entropies=torch.stack(entropies + pad, dim=1),
            values=torch.stack(values + pad, dim=1),
            costs=torch.from_numpy(costs).to(device),
            lengths=torch.from_numpy(lengths).to(device),
            solved=torch.from_numpy(solved).to(device),
            actions=actions,
        )

    # -- updates ----------------------------------------------------------------------

    def update(self, batch: Rollout) -> dict[str, float]:
        """One REINFORCE step on a finished batch; returns scalar diagnostics."""
        cfg = self.config
        steps = torch.arange(cfg.max_steps, device=self.device)
        mask = (steps.unsqueeze(0) < batch.lengths.unsqueeze(1)).float()
        rewards = step_rewards(
            batch.costs, batch.lengths, batch.solved, cost_weight=cfg.cost_weight, success_reward=cfg.success_reward
        )
        returns = discounted_returns(rewards, cfg.gamma, mask)
        count = mask.sum()
        value_loss = torch.zeros((), device=self.device)
        if cfg.baseline is BaselineKind.VALUE:
            advantages = returns - batch.values.detach()
            value_loss = (((batch.values - returns) * mask) ** 2).sum() / count
        elif cfg.baseline is BaselineKind.MOVING_AVERAGE:
            baseline = self.moving_baseline.to(self.device)
            advantages = returns - baseline
            seen = mask.sum(0)
            batch_mean = (returns * mask).sum(0) / seen.clamp(min=1)
            mixed = cfg.baseline_momentum * baseline + (1 - cfg.baseline_momentum) * batch_mean
            self.moving_baseline = torch.where(seen > 0, mixed, baseline).detach().cpu()
        else:
            advantages = returns
        if cfg.normalize_advantages:
            advantages = normalize(advantages, mask)
        advantages = advantages * mask
        policy_loss = -(advantages * batch.log_probs).sum() / count
        entropy = (batch.entropies * mask).sum() / count
        loss = policy_loss - cfg.entropy_weight(self.episodes_seen) * entropy + cfg.value_coef * value_loss
        self.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm)
        self.optimizer.step()
        return {
            "loss": float(loss.detach()),
            "entropy": float(entropy.detach()),
            "reward": float(rewards.sum(1).mean()),
        }

    def train_epoch(self, episodes: int | None = None) -> EpochMetrics:
        """Roll out and learn from ``episodes`` episodes (default ``config.episodes_per_epoch``)."""
        total = episodes if episodes is not None else self.config.episodes_per_epoch
        if total < 1:
            raise ValueError("episodes must be at least 1")
        started = time.perf_counter()
        self.policy.train()
        n_actions = len(self.agents) + 1
        usage = np.zeros(n_actions, dtype=np.int64)
        rewards = successes = costs = calls = 0.0
        entropy = loss = 0.0
        done = 0
        while done < total:
            n = min(self.config.batch_size, total - done)
            batch = self.rollout(self.sample_tasks(n))
            stats = self.update(batch)
            self.episodes_seen += n
            taken = batch.actions[batch.actions >= 0]
            usage += np.bincount(taken, minlength=n_actions)
            calls += float((taken < len(self.agents)).sum())
            rewards += stats["reward"] * n
            successes += float(batch.solved.sum())
            costs += float(batch.costs.sum())
            entropy += stats["entropy"] * n
            loss += stats["loss"] * n
            done += n
        self.epoch += 1
        seconds = time.perf_counter() - started
        names = [a.name for a in self.agents] + [TERMINATE]
        metrics = EpochMetrics(
            epoch=self.epoch,
            episodes=done,
            mean_reward=rewards / done,
            success_rate=successes / done,
            mean_cost=costs / done,
            mean_steps=calls / done,
            entropy=entropy / done,
            loss=loss / done,
            agent_usage={name: float(c) / max(int(usage.sum()), 1) for name, c in zip(names, usage, strict=True)},
            episodes_per_s=done / seconds if seconds > 0 else float("inf"),
            seconds=seconds,
        )
        logger.debug("epoch %s: %s", self.epoch, metrics)
        return metrics

    # -- checkpoints ------------------------------------------------------------------

    def checkpoint(self) -> bytes:
        """Everything needed to resume exactly: weights, optimizer, config, roster, epoch, RNG."""
        return checkpoints.dump(
            {
                "config": self.config.to_dict(),
                "agents": [{"name": a.name, "cost": a.cost, "description": a.description} for a in self.agents],
                "embedding_dim": self.embedding_dim,
                "epoch": self.epoch,
                "episodes_seen": self.episodes_seen,
                "policy": {k: v.detach().cpu() for k, v in self.policy.state_dict().items()},
                "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state(),
                "moving_baseline": self.moving_baseline.clone(),
            }
        )

    @classmethod
    def resume(
        cls,
        blob: bytes,
        env: Environment,
        tasks: Sequence[Task],
        *,
        embedder: TextEmbedder | None = None,
    ) -> Trainer:
        """A trainer that continues exactly where the one that wrote ``blob`` stopped."""
        state = checkpoints.load(blob)
        saved = [a["name"] for a in state["agents"]]
        names = [a.name for a in env.agents]
        if saved != names:
            raise checkpoints.CheckpointError(f"The checkpoint routes between {saved}, the environment has {names}.")
        trainer = cls(env, tasks, TrainConfig.from_dict(state["config"]), embedder=embedder)
        if trainer.embedding_dim != state["embedding_dim"]:
            raise checkpoints.CheckpointError(
                f"The checkpoint expects {state['embedding_dim']}-dimensional task embeddings, "
                f"the embedder gives {trainer.embedding_dim}."
            )
        trainer.policy.load_state_dict(state["policy"])
        trainer.optimizer.load_state_dict(state["optimizer"])
        trainer.generator.set_state(state["generator"])
        trainer.moving_baseline = state["moving_baseline"].clone()
        trainer.epoch = int(state["epoch"])
        trainer.episodes_seen = int(state["episodes_seen"])
        return trainer

    def orchestrator(self):
        """The current policy as an :class:`Orchestrator` (shares the weights; no copy)."""
        from .orchestrator import Orchestrator

        return Orchestrator(self.policy, self.encoder, max_steps=self.config.max_steps, device=self.device)


def train(
    env: Environment,
    tasks: Sequence[Task],
    config: TrainConfig,
    *,
    epochs: int,
    embedder: TextEmbedder | None = None,
    on_epoch: Callable[[EpochMetrics], None] | None = None,
) -> Trainer:
    """Train for ``epochs`` epochs (what a background job calls); returns the trainer."""
    trainer = Trainer(env, tasks, config, embedder=embedder)
    for _ in range(epochs):
        metrics = trainer.train_epoch()
        if on_epoch is not None:
            on_epoch(metrics)
    return trainer
