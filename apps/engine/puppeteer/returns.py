"""Pure reward helpers: reward shaping, reward-to-go and advantage normalisation.

Batches are ``(episodes, steps)`` tensors padded to the longest episode; ``mask``
is 1.0 on the steps an episode really took and 0.0 on the padding.
"""

from __future__ import annotations

import torch


def step_rewards(
    costs: torch.Tensor,
    lengths: torch.Tensor,
    solved: torch.Tensor,
    *,
    cost_weight: float,
    success_reward: float,
) -> torch.Tensor:
    """Per-step rewards whose sum is ``success_reward * solved - cost_weight * total cost``.

    As in Puppeteer, the episode reward R = r - lambda * C is paid as -lambda * c_t on
    every step t (the terminate action costs nothing) plus r on the final step.
    ``costs`` is ``(B, T)``, ``lengths`` the number of steps of each episode (>= 1),
    ``solved`` a boolean or 0/1 vector.
    """
    steps = torch.arange(costs.shape[1], device=costs.device)
    mask = (steps.unsqueeze(0) < lengths.unsqueeze(1)).to(costs.dtype)
    rewards = -cost_weight * costs * mask
    last = (lengths - 1).clamp(min=0).unsqueeze(1)
    bonus = (success_reward * solved.to(costs.dtype)).unsqueeze(1)
    return rewards.scatter_add(1, last, bonus)


def discounted_returns(rewards: torch.Tensor, gamma: float, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Reward-to-go G_t = sum_k gamma^k r_{t+k} along the last dimension.

    Padding (``mask == 0``) contributes nothing and gets a return of 0.
    """
    if mask is not None:
        rewards = rewards * mask
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[..., 0])
    for t in range(rewards.shape[-1] - 1, -1, -1):
        running = rewards[..., t] + gamma * running
        returns[..., t] = running
    if mask is not None:
        returns = returns * mask
    return returns


def normalize(values: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Standardise the masked entries to mean 0 and standard deviation 1 (padding stays 0)."""
    count = mask.sum().clamp(min=1.0)
    mean = (values * mask).sum() / count
    var = (((values - mean) * mask) ** 2).sum() / count
    return (values - mean) / (var.sqrt() + eps) * mask
