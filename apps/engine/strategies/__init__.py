"""Coordination strategies: pure state machines that turn facts into actions.

``build_strategy(name, config, members)`` is the one way to get a strategy;
``STRATEGIES`` lists what is available.
"""

from .base import (
    Action,
    AskHuman,
    Fact,
    Fail,
    Finish,
    HumanAnswered,
    MembersChanged,
    PostMessage,
    Progress,
    RunStarted,
    RunStep,
    StepFinished,
    Strategy,
    Transition,
)
from .registry import (
    STRATEGIES,
    StrategyInfo,
    StrategyName,
    build_strategy,
    config_only,
    strategy_catalogue,
    strategy_info,
)

__all__ = [
    "STRATEGIES",
    "Action",
    "AskHuman",
    "Fact",
    "Fail",
    "Finish",
    "HumanAnswered",
    "MembersChanged",
    "PostMessage",
    "Progress",
    "RunStarted",
    "RunStep",
    "StepFinished",
    "Strategy",
    "StrategyInfo",
    "StrategyName",
    "Transition",
    "build_strategy",
    "config_only",
    "strategy_catalogue",
    "strategy_info",
]
