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
from .registry import STRATEGIES, StrategyName, build_strategy, config_only

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
    "StrategyName",
    "Transition",
    "build_strategy",
    "config_only",
]
