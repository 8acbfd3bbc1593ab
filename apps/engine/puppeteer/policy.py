"""The orchestrator's policy: an MLP from the state to a distribution over the next action.

Actions ``0 .. K-1`` call agent k; action ``K`` is the explicit terminate action.
A value head shares the trunk and estimates the reward-to-go (the baseline).

Sentence embeddings of similar questions share a large common component and
spread their differences thinly over 384 small coordinates, so the policy
standardises the embedding part of the state per coordinate with statistics of
the training tasks (buffers, saved with the weights) and gives it its own input
layer; without this, the history features drown out the task at the start of
training and routing by task is learned far more slowly.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import Categorical


def _layer(linear: nn.Linear, std: float) -> nn.Linear:
    nn.init.orthogonal_(linear.weight, std)
    nn.init.zeros_(linear.bias)
    return linear


class Policy(nn.Module):
    def __init__(self, embedding_dim: int, history_dim: int, n_agents: int, hidden_size: int = 128) -> None:
        super().__init__()
        self.embedding_dim = embedding_dim
        self.state_dim = embedding_dim + history_dim
        self.n_agents = n_agents
        self.register_buffer("embedding_mean", torch.zeros(embedding_dim))
        self.register_buffer("embedding_std", torch.ones(embedding_dim))
        self.task_in = _layer(nn.Linear(embedding_dim, hidden_size), math.sqrt(2))
        self.history_in = _layer(nn.Linear(history_dim, hidden_size), math.sqrt(2))
        self.trunk = nn.Sequential(
            nn.Tanh(),
            _layer(nn.Linear(hidden_size, hidden_size), math.sqrt(2)),
            nn.Tanh(),
        )
        # A small actor init starts the policy near uniform, so early rollouts explore.
        self.actor = _layer(nn.Linear(hidden_size, n_agents + 1), 0.01)
        self.critic = _layer(nn.Linear(hidden_size, 1), 1.0)

    @torch.no_grad()
    def fit_embedding_stats(self, task_vectors: torch.Tensor) -> None:
        """Standardise task embeddings with the mean and spread of these (training) tasks."""
        self.embedding_mean.copy_(task_vectors.mean(0))
        if len(task_vectors) < 2:
            self.embedding_std.fill_(1.0)
            return
        spread = task_vectors.std(0, unbiased=False)
        # A floor keeps a coordinate that hardly varies in training from blowing up on new tasks.
        self.embedding_std.copy_(spread.clamp(min=max(1e-3, 0.1 * float(spread.median()))))

    @property
    def terminate_action(self) -> int:
        return self.n_agents

    def forward(self, state: torch.Tensor) -> tuple[Categorical, torch.Tensor]:
        """The action distribution and the value estimate for each state in the batch."""
        task = (state[:, : self.embedding_dim] - self.embedding_mean) / self.embedding_std
        hidden = self.trunk(self.task_in(task) + self.history_in(state[:, self.embedding_dim :]))
        return Categorical(logits=self.actor(hidden)), self.critic(hidden).squeeze(-1)
