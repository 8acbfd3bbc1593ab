"""Chat room: members take turns round-robin until a turn limit or a member is done.

The task opens the room. Each turn the next member sees the room's history
(the service supplies it from the room) and the latest message as input;
its reply is posted to the room. A member that returns ``done`` ends the
conversation; its reply is the run's result. Agents spawned during the run
join the rotation at its end; terminated ones leave it.

A ``moderator`` decides who speaks next: ``"round_robin"`` (the default), or
``{"selector": "<agent>"}``: before every turn the selector agent (a member;
its step sees the room) names the next speaker. A reply that names no
speaker (or, without ``allow_repeat``, the one who just spoke) is asked
again up to ``selector_retries`` times, then the turn falls back to round
robin; every choice and fallback is recorded in ``moderation`` in the state.
One speaker at a time: a speaker's step starts only after the previous
message is in the room, so each sees all earlier messages.

``board_only`` keeps the room to the Supreme Oversight Board: levels are not
visible to a strategy, so the swarm service checks at configuration time
that every speaker is a level-0 agent (``speakers()`` names them), and
agents spawned during the run (always below their creator's level) do not
join the rotation. ``BoardRoomStrategy`` (``board``) is this room with
``board_only`` on by default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from ..config import ConfigReader
from ..errors import StrategyConfigError, StrategyError
from ..values import StepResult
from . import schema_parts as sp
from .base import Fact, Fail, Finish, MembersChanged, PostMessage, Progress, RunStep, StepFinished, Transition


class OnError:
    SKIP = "skip"  # note the failure in the room and pass the turn on
    FAIL = "fail"  # fail the run


class Moderator:
    ROUND_ROBIN = "round_robin"  # members speak in order
    SELECTOR = "selector"  # an agent names the next speaker before each turn


class ChosenBy:
    SELECTOR = "selector"
    FALLBACK = "round_robin_fallback"  # the selector gave no valid name in its attempts


def room_schema(*, room: str, board_only: bool) -> dict[str, Any]:
    """The config schema of a chat room (and, with its own defaults, of the board's room)."""
    return sp.config(
        {
            "order": sp.members(
                "Speaking order",
                "Who speaks, in turn (default: every member but the selector, in member order).",
                role="order",
                error="Must be a non-empty list of member names.",
            ),
            "max_turns": sp.integer(
                "Turn limit",
                "The conversation ends after this many turns (default: three per speaker).",
                minimum=1,
                maximum=1000,
            ),
            "on_error": sp.choice(
                "When a speaker fails",
                "skip: note it in the room and pass the turn on; fail: fail the run.",
                (OnError.SKIP, OnError.FAIL),
                default=OnError.SKIP,
            ),
            "moderator": {
                "title": "Moderator",
                "description": "Who decides the next speaker: round robin, or an agent that names one each turn.",
                "default": Moderator.ROUND_ROBIN,
                "oneOf": [
                    {"title": "Round robin", "const": Moderator.ROUND_ROBIN},
                    {
                        "title": "An agent picks",
                        "type": "object",
                        "properties": {
                            Moderator.SELECTOR: sp.member(
                                "Selector", "The member that names the next speaker.", role="moderator"
                            )
                        },
                        "required": [Moderator.SELECTOR],
                        "additionalProperties": False,
                    },
                ],
                "x-error": 'Either "round_robin" or {"selector": "<agent>"}.',
            },
            "selector_retries": sp.integer(
                "Selector retries",
                "How often the selector is asked again for a usable name before round robin takes the turn.",
                default=2,
                minimum=0,
                maximum=5,
            ),
            "allow_repeat": sp.boolean(
                "Allow repeats", "Whether the selector may give the turn to who just spoke.", default=False
            ),
            "board_only": sp.boolean(
                "Board only",
                "Only level-0 agents (the board) may speak; agents spawned during the run do not join.",
                default=board_only,
            ),
            "room": sp.room(room),
        }
    )


CHAT_ROLES: tuple[dict[str, Any], ...] = (
    {"role": "order", "key": "order", "many": True, "description": "The speakers, in turn."},
    {
        "role": "moderator",
        "key": "moderator.selector",
        "many": False,
        "description": "Names the next speaker before each turn (optional).",
    },
)


@dataclass
class ChatRoomState:
    task: str
    order: list[str] = field(default_factory=list)
    position: int = 0  # index in ``order`` of the member whose turn it is
    turn: int = 0
    last: str = ""
    consecutive_errors: int = 0
    speaker: str | None = None  # chosen by the selector for the current turn
    last_speaker: str | None = None
    select_attempt: int = 0
    invalid: list[str] = field(default_factory=list)  # the selector's unusable replies this turn
    moderation: list[dict[str, Any]] = field(default_factory=list)


class ChatRoomStrategy:
    """Config keys: ``room``, ``max_turns``, ``order`` (member names), ``on_error``, ``moderator``
    (``"round_robin"`` or ``{"selector": agent}``), ``selector_retries``, ``allow_repeat``, ``board_only``."""

    name: ClassVar[str] = "chat_room"
    config_only: ClassVar[bool] = True  # built from its config and members alone (see registry)
    default_room: ClassVar[str] = "main"
    default_board_only: ClassVar[bool] = False
    roles: ClassVar[tuple[dict[str, Any], ...]] = CHAT_ROLES
    config_schema: ClassVar[dict[str, Any]] = room_schema(room="main", board_only=False)

    def __init__(self, config: Mapping[str, Any] | None, members: Sequence[str]) -> None:
        allowed = {
            "room",
            "max_turns",
            "order",
            "on_error",
            "moderator",
            "selector_retries",
            "allow_repeat",
            "board_only",
        }
        reader = ConfigReader(config, allowed=allowed, error=StrategyConfigError)
        self.room = reader.string("room", self.default_room, required=True)
        self.selector = self._parse_moderator(reader, members)
        default_order = [m for m in members if m != self.selector]
        order = reader.config.get("order", default_order)
        if not isinstance(order, list) or not order or not all(isinstance(n, str) for n in order):
            reader.error("order", "Must be a non-empty list of member names.")
            order = default_order
        for name in order:
            if name not in members:
                reader.error("order", f"Unknown agent {name!r}: not a member of this swarm.")
        if not order:
            reader.error("order", "A chat room needs at least one member.")
        self.order: list[str] = list(order)
        self.max_turns = reader.integer("max_turns", max(1, 3 * len(self.order)), minimum=1, maximum=1000) or 1
        self.on_error = reader.choice("on_error", OnError.SKIP, (OnError.SKIP, OnError.FAIL))
        self.selector_retries = reader.integer("selector_retries", 2, minimum=0, maximum=5) or 0
        self.allow_repeat = reader.boolean("allow_repeat", False)
        self.board_only = reader.boolean("board_only", self.default_board_only)
        reader.raise_if_invalid("chat room")

    @staticmethod
    def _parse_moderator(reader: ConfigReader, members: Sequence[str]) -> str | None:
        """The selector agent, or None for round robin."""
        raw = reader.config.get("moderator", Moderator.ROUND_ROBIN)
        if raw == Moderator.ROUND_ROBIN:
            return None
        if not isinstance(raw, Mapping) or set(raw) != {Moderator.SELECTOR} or not isinstance(raw["selector"], str):
            reader.error("moderator", 'Either "round_robin" or {"selector": "<agent>"}.')
            return None
        if raw["selector"] not in members:
            reader.error("moderator.selector", f"Unknown agent {raw['selector']!r}: not a member of this swarm.")
            return None
        return raw["selector"]

    def speakers(self) -> list[str]:
        """The members who post in the room (with ``board_only``, each must be a level-0 agent)."""
        return list(self.order)

    def start(self, task: str) -> Transition:
        state = ChatRoomState(task=task, order=list(self.order), last=task)
        return Transition(asdict(state), (PostMessage(self.room, "task", task, is_human=True), self._next(state)))

    def on_fact(self, state: Mapping[str, Any], fact: Fact) -> Transition:
        s = ChatRoomState(**state)
        if isinstance(fact, MembersChanged):
            return self._members_changed(s, fact)
        if isinstance(fact, StepFinished) and self.selector is not None and fact.key == self._select_key(s):
            return self._selected(s, fact.result)
        if not isinstance(fact, StepFinished) or fact.key != self._key(s):
            raise StrategyError(f"Chat room expected the result of {self._key(s)!r}, got {fact!r}.")
        speaker = fact.agent
        result = fact.result
        actions: list = []
        s.last_speaker, s.speaker = speaker, None
        if result.ok:
            s.consecutive_errors = 0
            s.last = result.content
            actions.append(PostMessage(self.room, speaker, result.content))
            if result.done:
                s.turn += 1
                return Transition(asdict(s), (*actions, Finish(result.content)))
        else:
            s.consecutive_errors += 1
            reason = result.error or result.outcome.value
            if self.on_error == OnError.FAIL or s.consecutive_errors >= max(1, len(s.order)):
                return Transition(asdict(s), (Fail(f"{speaker} failed on turn {s.turn + 1}: {reason}"),))
            actions.append(
                PostMessage(self.room, "system", f"{speaker} could not answer ({reason}); passing the turn.")
            )
        s.turn += 1
        if self.selector is None and speaker in s.order and s.order[s.position % len(s.order)] == speaker:
            s.position += 1  # the speaker is still in the rotation: move past it
        if s.turn >= self.max_turns or not s.order:
            return Transition(asdict(s), (*actions, Finish(s.last)))
        s.position %= len(s.order)
        return Transition(asdict(s), (*actions, self._next(s)))

    # ---- the selector ------------------------------------------------------------------

    def _next(self, s: ChatRoomState) -> RunStep:
        """The next turn's step, or the selector's step that picks its speaker."""
        if self.selector is None:
            return self._turn(s)
        s.select_attempt, s.invalid = 0, []
        return self._ask_selector(s)

    def _select_key(self, s: ChatRoomState) -> str:
        return f"select-{s.turn + 1}#{s.select_attempt}"

    def _candidates(self, s: ChatRoomState) -> list[str]:
        if self.allow_repeat or len(s.order) < 2:
            return list(s.order)
        return [name for name in s.order if name != s.last_speaker]

    def _ask_selector(self, s: ChatRoomState) -> RunStep:
        assert self.selector is not None
        lines = [
            f"You moderate a deliberation on: {s.task}",
            f"Members who may speak next: {', '.join(self._candidates(s))}.",
        ]
        if s.last_speaker:
            lines.append(f"The last speaker was {s.last_speaker}.")
        lines.append("Reply with the name of the next speaker only.")
        if s.invalid:
            lines.append(f"Your previous reply could not be used: {s.invalid[-1]!r} names none of them.")
        return RunStep(key=self._select_key(s), agent=self.selector, input="\n".join(lines), room=self.room)

    def _pick(self, s: ChatRoomState, reply: str) -> str | None:
        """The candidate ``reply`` names: all of it, or the one candidate it mentions as a word."""
        candidates = self._candidates(s)
        cleaned = reply.strip().strip("\"'`*.:!").strip().casefold()
        for name in candidates:
            if cleaned == name.casefold():
                return name
        mentioned = [n for n in candidates if re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", reply, re.IGNORECASE)]
        return mentioned[0] if len(mentioned) == 1 else None

    def _selected(self, s: ChatRoomState, result: StepResult) -> Transition:
        chosen = self._pick(s, result.content) if result.ok else None
        if chosen is None:
            s.invalid.append(result.content[:200] if result.ok else f"(failed: {result.error or result.outcome.value})")
            if s.select_attempt < self.selector_retries:
                s.select_attempt += 1
                return Transition(asdict(s), (self._ask_selector(s),))
            chosen, by = self._round_robin_after(s), ChosenBy.FALLBACK
        else:
            by = ChosenBy.SELECTOR
        s.moderation.append(
            {"turn": s.turn + 1, "speaker": chosen, "by": by, "attempts": s.select_attempt + 1, "invalid": s.invalid}
        )
        s.speaker, s.invalid = chosen, []
        return Transition(asdict(s), (self._turn(s),))

    def _round_robin_after(self, s: ChatRoomState) -> str:
        """The member after the last speaker in the rotation (the first one if nobody spoke yet)."""
        if s.last_speaker in s.order:
            return s.order[(s.order.index(s.last_speaker) + 1) % len(s.order)]
        return s.order[s.position % len(s.order)]

    def _members_changed(self, s: ChatRoomState, fact: MembersChanged) -> Transition:
        current = s.order[s.position % len(s.order)] if s.order else None
        for name in fact.left:
            if name in s.order:
                index = s.order.index(name)
                s.order.remove(name)
                if index < s.position:
                    s.position -= 1
        if not self.board_only:  # spawned agents are never on the board
            s.order += [name for name in fact.joined if name not in s.order]
        if current is not None and current in s.order:
            s.position = s.order.index(current)
        return Transition(asdict(s))

    def _key(self, s: ChatRoomState) -> str:
        return f"turn-{s.turn + 1}"

    def _turn(self, s: ChatRoomState) -> RunStep:
        speaker = s.speaker or s.order[s.position % len(s.order)]
        return RunStep(key=self._key(s), agent=speaker, input=s.last, room=self.room)


class BoardRoomStrategy(ChatRoomStrategy):
    """The Supreme Oversight Board's deliberation room: a chat room with ``board_only`` on by default."""

    name: ClassVar[str] = "board"
    default_room: ClassVar[str] = "board"
    default_board_only: ClassVar[bool] = True
    config_schema: ClassVar[dict[str, Any]] = room_schema(room="board", board_only=True)

    def start(self, task: str) -> Transition:
        return self._with_panel(super().start(task))

    def on_fact(self, state: Mapping[str, Any], fact: Fact) -> Transition:
        return self._with_panel(super().on_fact(state, fact))

    def _with_panel(self, transition: Transition) -> Transition:
        """Every transition also refreshes the run page's board panel."""
        return Transition(transition.state, (*transition.actions, Progress(self.snapshot(transition.state))))

    def snapshot(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """Who sits on the board, whose turn it is, and how the moderator chose each speaker."""
        order = list(state.get("order", []))
        turn = int(state.get("turn", 0))
        upcoming = state.get("speaker") or (order[state.get("position", 0) % len(order)] if order else None)
        return {
            "view": "board",
            "room": self.room,
            "moderator": f"selector {self.selector}" if self.selector else "round robin",
            "members": order,
            "turn": turn,
            "max_turns": self.max_turns,
            "last_speaker": state.get("last_speaker"),
            "next_speaker": upcoming if turn < self.max_turns else None,
            "moderation": list(state.get("moderation", []))[-20:],
        }
