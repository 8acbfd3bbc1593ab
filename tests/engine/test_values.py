from decimal import Decimal

from apps.engine.values import Budget, Spend, exceeded_limit


def test_a_run_may_start_exactly_max_steps():
    budget = Budget(max_steps=3)
    assert exceeded_limit(budget, Spend(steps=2), extra_steps=1) is None
    assert "step limit of 3" in exceeded_limit(budget, Spend(steps=3), extra_steps=1)


def test_cost_tokens_and_time_limits_are_named():
    assert "cost limit" in exceeded_limit(Budget(max_cost=Decimal("0.01")), Spend(cost=Decimal("0.02")))
    assert "token limit" in exceeded_limit(Budget(max_tokens=10), Spend(tokens=10))
    assert "time limit of 5s" in exceeded_limit(Budget(max_seconds=5), Spend(seconds=5.5))


def test_no_limits_means_within_budget():
    assert exceeded_limit(Budget(), Spend(steps=10_000, cost=Decimal("99"), seconds=1e6)) is None
