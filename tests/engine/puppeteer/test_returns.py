import pytest
import torch
from torch.testing import assert_close

from apps.engine.puppeteer import discounted_returns, normalize, step_rewards


def test_discounted_returns_match_hand_computed_values():
    rewards = torch.tensor([[1.0, 0.0, 2.0], [-0.1, -0.2, 1.0]])
    returns = discounted_returns(rewards, 0.5)
    # 1 + 0.5 * 0 + 0.25 * 2 = 1.5; 0 + 0.5 * 2 = 1; 2
    # -0.1 + 0.5 * -0.2 + 0.25 * 1 = 0.05; -0.2 + 0.5 * 1 = 0.3; 1
    assert_close(returns, torch.tensor([[1.5, 1.0, 2.0], [0.05, 0.3, 1.0]]))


def test_undiscounted_returns_are_suffix_sums_and_padding_counts_for_nothing():
    rewards = torch.tensor([[-0.1, -0.2, 0.9, 5.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    assert_close(discounted_returns(rewards, 1.0, mask), torch.tensor([[0.6, 0.7, 0.9, 0.0]]))


def test_step_rewards_pay_the_cost_every_step_and_success_at_the_end():
    costs = torch.tensor([[2.0, 1.0, 0.0, 0.0], [4.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    lengths = torch.tensor([3, 1, 4])
    solved = torch.tensor([True, False, True])
    rewards = step_rewards(costs, lengths, solved, cost_weight=0.1, success_reward=1.0)
    assert_close(rewards, torch.tensor([[-0.2, -0.1, 1.0, 0.0], [-0.4, 0.0, 0.0, 0.0], [-0.1, -0.1, -0.1, 0.9]]))
    # The episode's total is r - lambda * C, as in the paper.
    assert rewards.sum(1).tolist() == pytest.approx([1 - 0.3, -0.4, 1 - 0.4])


def test_normalize_standardises_only_the_real_steps():
    values = torch.tensor([[1.0, 3.0, 100.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    assert_close(normalize(values, mask), torch.tensor([[-1.0, 1.0, 0.0]]))
