"""Hooks around a run's transitions, for strategies whose records outlive a run (ORC ratings).

An app registers hooks for a strategy name in its ``AppConfig.ready``. The run
service calls ``start_context`` before taking the run's lock (it may load
models) and passes the result to the strategy's ``start``; it calls
``after_transition`` under the run's lock, in the transaction that saved
the new state, so what the hook writes commits or rolls back with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StrategyHooks:
    start_context: Callable[[Any, Any], dict[str, Any]] | None = None  # (run, strategy) -> context
    after_transition: Callable[[Any], None] | None = None  # (run)


_HOOKS: dict[str, StrategyHooks] = {}


def register(strategy: str, hooks: StrategyHooks) -> None:
    _HOOKS[strategy] = hooks


def hooks_for(strategy: str) -> StrategyHooks | None:
    return _HOOKS.get(strategy)
