"""Live views of strategies for the run page, by strategy name.

A snapshot is a plain dict built from a run's saved state (the page) and
sent as ``Progress`` data (the websocket), so a reload shows exactly what
streamed. Each carries ``view``: the name of the panel that renders it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import EngineError
from .registry import build_strategy

PANEL_STRATEGIES = frozenset({"hive", "forge", "orc", "sao", "puppeteer", "board"})


def strategy_snapshot(
    name: str, config: Mapping[str, Any] | None, members: Sequence[str], state: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The panel data of a run of strategy ``name``, or None if it has no panel (or a broken config)."""
    if name not in PANEL_STRATEGIES:
        return None
    try:
        strategy = build_strategy(name, config, members)
    except EngineError:
        return None
    return strategy.snapshot(state or {})
