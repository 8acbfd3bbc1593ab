"""Chat room: members take turns round-robin until a turn limit or a member is done.

The task opens the room. Each turn the next member sees the room's history
(the service supplies it from the room) and the latest message as input;
its reply is posted to the room. A member that returns ``done`` ends the
conversation; its reply is the run's result. Agents spawned during the run
join the rotation at its end; terminated ones leave it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from ..config import ConfigReader
from ..errors import StrategyConfigError, StrategyError
from .base import Fact, Fail, Finish, MembersChanged, PostMessage, RunStep, StepFinished, Transition


class OnError:
    SKIP = "skip"  # note the failure in the room and pass the turn on
    FAIL = "fail"  # fail the run


@dataclass
class ChatRoomState:
    task: str
    order: list[str] = field(default_factory=list)
    position: int = 0  # index in ``order`` of the member whose turn it is
    turn: int = 0
    last: str = ""
    consecutive_errors: int = 0


class ChatRoomStrategy:
    """Config keys: ``room``, ``max_turns``, ``order`` (member names), ``on_error``."""

    name: ClassVar[str] = "chat_room"

    def __init__(self, config: Mapping[str, Any] | None, members: Sequence[str]) -> None:
        reader = ConfigReader(config, allowed={"room", "max_turns", "order", "on_error"}, error=StrategyConfigError)
        self.room = reader.string("room", "main", required=True)
        order = reader.config.get("order", list(members))
        if not isinstance(order, list) or not order or not all(isinstance(n, str) for n in order):
            reader.error("order", "Must be a non-empty list of member names.")
            order = list(members)
        for name in order:
            if name not in members:
                reader.error("order", f"Unknown agent {name!r}: not a member of this swarm.")
        if not order:
            reader.error("order", "A chat room needs at least one member.")
        self.order: list[str] = list(order)
        self.max_turns = reader.integer("max_turns", max(1, 3 * len(self.order)), minimum=1, maximum=1000) or 1
        self.on_error = reader.choice("on_error", OnError.SKIP, (OnError.SKIP, OnError.FAIL))
        reader.raise_if_invalid("chat room")

    def start(self, task: str) -> Transition:
        state = ChatRoomState(task=task, order=list(self.order), last=task)
        return Transition(asdict(state), (PostMessage(self.room, "task", task, is_human=True), self._turn(state)))

    def on_fact(self, state: Mapping[str, Any], fact: Fact) -> Transition:
        s = ChatRoomState(**state)
        if isinstance(fact, MembersChanged):
            return self._members_changed(s, fact)
        if not isinstance(fact, StepFinished) or fact.key != self._key(s):
            raise StrategyError(f"Chat room expected the result of {self._key(s)!r}, got {fact!r}.")
        speaker = fact.agent
        result = fact.result
        actions: list = []
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
        if speaker in s.order and s.order[s.position % len(s.order)] == speaker:
            s.position += 1  # the speaker is still in the rotation: move past it
        if s.turn >= self.max_turns or not s.order:
            return Transition(asdict(s), (*actions, Finish(s.last)))
        s.position %= len(s.order)
        return Transition(asdict(s), (*actions, self._turn(s)))

    def _members_changed(self, s: ChatRoomState, fact: MembersChanged) -> Transition:
        current = s.order[s.position % len(s.order)] if s.order else None
        for name in fact.left:
            if name in s.order:
                index = s.order.index(name)
                s.order.remove(name)
                if index < s.position:
                    s.position -= 1
        s.order += [name for name in fact.joined if name not in s.order]
        if current is not None and current in s.order:
            s.position = s.order.index(current)
        return Transition(asdict(s))

    def _key(self, s: ChatRoomState) -> str:
        return f"turn-{s.turn + 1}"

    def _turn(self, s: ChatRoomState) -> RunStep:
        speaker = s.order[s.position % len(s.order)]
        return RunStep(key=self._key(s), agent=speaker, input=s.last, room=self.room)
