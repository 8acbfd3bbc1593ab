"""The catalogue of strategies, by name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..errors import StrategyConfigError, UnknownStrategyError
from ..schema import schema_errors
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


# The names people see; apps.swarms.models.Strategy shows the same ones.
LABELS: dict[str, str] = {
    StrategyName.SEQUENTIAL: "Sequential pipeline",
    StrategyName.CHAT_ROOM: "Chat room",
    StrategyName.HEIST: "HEIST workflow (DAG)",
    StrategyName.BOSS_WORKER: "Boss and workers (director)",
    StrategyName.HIVE: "HIVE consensus (propose, vote)",
    StrategyName.FORGE: "FORGE refinement (generator, critics)",
    StrategyName.ORC: "ORC trials (per-domain leaders, Elo)",
    StrategyName.SAO: "SAO curriculum (levels, rewards)",
    StrategyName.BOARD: "Board deliberation room",
    StrategyName.PUPPETEER: "Puppeteer (trained orchestrator policy)",
}


@dataclass(frozen=True)
class StrategyInfo:
    """What the designer and the API show about a strategy: its names, the member roles its
    config assigns (``{"role", "key", "many", "description"}``, ``key`` being the config key
    that holds the member or members) and the JSON Schema of its config."""

    name: str
    label: str
    description: str
    roles: tuple[dict[str, Any], ...]
    config_schema: dict[str, Any]


def strategy_info(name: str) -> StrategyInfo:
    """The catalogue entry of strategy ``name``; raises ``UnknownStrategyError``."""
    cls = _strategy_class(name)
    return StrategyInfo(
        name=str(name),
        label=LABELS[name],
        description=DESCRIPTIONS[name],
        roles=tuple(dict(role) for role in cls.roles),
        config_schema=cls.config_schema,
    )


def strategy_catalogue() -> list[StrategyInfo]:
    """Every strategy's catalogue entry, in ``StrategyName`` order."""
    return [strategy_info(name) for name in StrategyName]


def _strategy_class(name: str) -> type:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise UnknownStrategyError(
            f"Unknown strategy {name!r}. Available: {', '.join(STRATEGIES)}.",
            fields={"strategy": ["Unknown strategy."]},
        ) from None


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
    cls = _strategy_class(name)
    # The schema is the definition a form is generated from, and the engine validates with it
    # too; the class's parser adds what a schema cannot say (members, cycles, duplicate names).
    # Where both find a problem the parser's message stands, as it always read.
    problems = schema_errors(cls.config_schema, config)
    try:
        strategy = cls(config, list(members))
    except StrategyConfigError as exc:
        raise _with_schema_problems(exc, problems) from None
    except (TypeError, ValueError, AttributeError):
        if not problems:
            raise
        strategy = None  # the parser choked on a shape the schema refuses: report the schema's problems
    if problems:
        raise _schema_refusal(cls.name, problems)
    return strategy


def _schema_refusal(name: str, problems: dict[str, list[str]]) -> StrategyConfigError:
    root = problems.get("")
    if root:
        return StrategyConfigError(f"Invalid {name} configuration: {' '.join(root)}")
    return StrategyConfigError(f"Invalid {name} configuration.", fields=problems)


def _with_schema_problems(exc: StrategyConfigError, problems: dict[str, list[str]]) -> StrategyConfigError:
    """The parser's error, plus the schema's problems at paths the parser said nothing about
    (neither at the path nor above or below it)."""
    extra = {
        path: messages
        for path, messages in problems.items()
        if path and not any(_related(path, known) for known in exc.fields)
    }
    if not extra:
        return exc
    return StrategyConfigError(exc.message, fields={**exc.fields, **extra}, code=exc.code)


def _related(a: str, b: str) -> bool:
    def within(inner: str, outer: str) -> bool:
        return inner == outer or inner.startswith((f"{outer}.", f"{outer}["))

    return within(a, b) or within(b, a)
