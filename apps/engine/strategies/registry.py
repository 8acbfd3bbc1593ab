"""The catalogue of strategies, by name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from ..errors import UnknownStrategyError
from .base import Strategy
from .boss_worker import BossWorkerStrategy
from .chat_room import BoardRoomStrategy, ChatRoomStrategy
from .forge import ForgeStrategy
from .heist import HeistStrategy
from .hive import HiveStrategy
from .orc import OrcStrategy
from .puppeteer import PuppeteerStrategy
from .sao import SaoStrategy
from .sequential import SequentialStrategy


class StrategyName(StrEnum):
    SEQUENTIAL = "sequential"
    CHAT_ROOM = "chat_room"
    HEIST = "heist"
    BOSS_WORKER = "boss_worker"
    HIVE = "hive"
    FORGE = "forge"
    ORC = "orc"
    SAO = "sao"
    BOARD = "board"
    PUPPETEER = "puppeteer"


STRATEGIES: dict[str, type] = {
    StrategyName.SEQUENTIAL: SequentialStrategy,
    StrategyName.CHAT_ROOM: ChatRoomStrategy,
    StrategyName.HEIST: HeistStrategy,
    StrategyName.BOSS_WORKER: BossWorkerStrategy,
    StrategyName.HIVE: HiveStrategy,
    StrategyName.FORGE: ForgeStrategy,
    StrategyName.ORC: OrcStrategy,
    StrategyName.SAO: SaoStrategy,
    StrategyName.BOARD: BoardRoomStrategy,
    StrategyName.PUPPETEER: PuppeteerStrategy,
}

DESCRIPTIONS: dict[str, str] = {
    StrategyName.SEQUENTIAL: "Pipeline: each stage gets the previous output; stages may ask a human.",
    StrategyName.CHAT_ROOM: "Round-robin chat among the members until a turn limit or a member is done.",
    StrategyName.HEIST: "Dependency-aware: ready nodes run in parallel, with retries, fallback agents and replanning.",
    StrategyName.BOSS_WORKER: "A director hands out orders to workers in parallel, loops on results, synthesises.",
    StrategyName.HIVE: "Leaderless consensus: agents propose, see each other, vote; a threshold decides.",
    StrategyName.FORGE: "Adversarial refinement: a generator drafts, critics score, it revises until all accept.",
    StrategyName.ORC: "Leadership through trials: per-domain leaders, challengers, a judge, Elo ratings.",
    StrategyName.SAO: "Curriculum arena: agents climb judged levels for rewards; a fail sends them back.",
    StrategyName.BOARD: "Board deliberation: level-0 members speak one at a time, in turn or as a selector picks.",
    StrategyName.PUPPETEER: "A trained orchestrator policy picks which agent acts next, or stops (learned routing).",
}


def config_only(name: str) -> bool:
    """Whether strategy ``name`` is built from its config and members alone (its class says
    ``config_only = True``), so one instance can serve every run with the same config and
    members. Strategies that read anything else when built (a trained policy's latest
    checkpoint) leave it unset and are built for each run."""
    return bool(getattr(STRATEGIES.get(name), "config_only", False))


def build_strategy(name: str, config: Mapping[str, Any] | None, members: Sequence[str]) -> Strategy:
    """Validate ``config`` for strategy ``name`` and return the bound strategy.

    Raises ``UnknownStrategyError`` or ``StrategyConfigError`` (with field messages).
    """
    try:
        cls = STRATEGIES[name]
    except KeyError:
        raise UnknownStrategyError(
            f"Unknown strategy {name!r}. Available: {', '.join(STRATEGIES)}.",
            fields={"strategy": ["Unknown strategy."]},
        ) from None
    return cls(config, list(members))
