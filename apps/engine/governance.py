"""Governance rules for agent hierarchies: levels, privileges, spawning, termination.

Pure functions over an in-memory ``Hierarchy``. The services load the
relevant agents, apply one operation here, and persist what it returns:
changed agents and audit records. Every rule violation raises
``GovernanceError`` naming the rule and, where there is one, the privilege.

The rules:
- The Supreme Oversight Board (SOB) is level 0. An agent creates agents
  exactly one level below its own, within ``max_depth``.
- A child's privileges are a subset of its creator's, at creation and at all
  times after: revoking from an agent revokes from all its descendants;
  granting to an agent needs its creator to hold the privilege.
- An agent terminates only its descendants; termination cascades to the
  whole subtree. A terminated agent does nothing more.
- The board (level 0) overrides: it grants (within its own privileges),
  revokes and terminates anywhere in its tree. A human superuser acts for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from enum import StrEnum

from .errors import EngineError, ErrorCode

BOARD_LEVEL = 0
DEFAULT_MAX_DEPTH = 4

BASE_PRIVILEGES: dict[str, str] = {
    "spawn": "Create sub-agents one level below itself.",
    "terminate": "Terminate its own descendants.",
    "broadcast": "Post to every member of a room it belongs to.",
    "message": "Send direct messages to the agents it talks to.",
    "memory.write": "Write to shared memory.",
    "human.ask": "Ask a person for input.",
}


def tool_privilege(tool: str) -> str:
    return f"tool.{tool}"


def model_privilege(model: str) -> str:
    return f"model.{model}"


def catalog(*, tools: Iterable[str] = (), models: Iterable[str] = ()) -> dict[str, str]:
    """Every privilege that can be granted: the base set plus one per tool and per model."""
    privileges = dict(BASE_PRIVILEGES)
    privileges.update({tool_privilege(t): f"Use the {t} tool." for t in sorted(set(tools))})
    privileges.update({model_privilege(m): f"Call the model {m}." for m in sorted(set(models))})
    return privileges


def is_well_formed(privilege: str) -> bool:
    """Base privileges, and ``tool.<name>`` / ``model.<name>`` for any name."""
    if privilege in BASE_PRIVILEGES:
        return True
    kind, _, name = privilege.partition(".")
    return kind in {"tool", "model"} and bool(name) and not name.isspace()


class Rule(StrEnum):
    """Which rule a denied action broke; the API returns it as the error code."""

    MISSING_PRIVILEGE = "missing_privilege"
    PRIVILEGE_ESCALATION = "privilege_escalation"
    LEVEL_SKIP = "level_skip"
    MAX_DEPTH = "max_depth_exceeded"
    NOT_A_DESCENDANT = "not_a_descendant"
    AGENT_TERMINATED = "agent_terminated"
    UNKNOWN_PRIVILEGE = "unknown_privilege"
    NOT_THE_BOARD = "not_the_board"
    NOT_IN_TALKS_TO = "not_in_talks_to"
    NOT_A_ROOM_MEMBER = "not_a_room_member"


class GovernanceError(EngineError):
    """A governance rule denied an action. ``rule`` names it; ``privilege`` the privilege at stake."""

    code = ErrorCode.PERMISSION_DENIED

    def __init__(self, rule: Rule, message: str, *, privilege: str = "") -> None:
        super().__init__(message, fields={"privilege": [privilege]} if privilege else None)
        self.rule = rule
        self.privilege = privilege


class Action(StrEnum):
    SPAWN = "spawn"
    TERMINATE = "terminate"
    GRANT = "grant"
    REVOKE = "revoke"
    USE = "use"
    MESSAGE = "message"
    BROADCAST = "broadcast"


@dataclass(frozen=True)
class Node:
    id: int
    level: int
    parent: int | None
    privileges: frozenset[str]
    active: bool = True


@dataclass(frozen=True)
class Actor:
    """Who acts: an agent, or a person. A superuser acts for the board."""

    agent: int | None = None
    superuser: bool = False
    label: str = ""


@dataclass(frozen=True)
class AuditRecord:
    action: Action
    allowed: bool
    actor: Actor
    target: int | None = None
    privilege: str = ""
    reason: str = ""
    rule: str = ""


@dataclass
class Outcome:
    """What an operation changed, for the caller to persist."""

    changed: dict[int, Node] = field(default_factory=dict)
    created: Node | None = None
    audit: list[AuditRecord] = field(default_factory=list)


@dataclass
class Hierarchy:
    """A forest of agents; operations check the rules, then mutate and report."""

    nodes: dict[int, Node] = field(default_factory=dict)
    max_depth: int = DEFAULT_MAX_DEPTH

    # ---- queries -------------------------------------------------------------

    def ancestors(self, agent: int) -> Iterator[int]:
        parent = self.nodes[agent].parent
        while parent is not None:
            yield parent
            parent = self.nodes[parent].parent

    def descendants(self, agent: int) -> list[int]:
        children: dict[int, list[int]] = {}
        for node in self.nodes.values():
            if node.parent is not None:
                children.setdefault(node.parent, []).append(node.id)
        found, stack = [], list(children.get(agent, []))
        while stack:
            current = stack.pop()
            found.append(current)
            stack.extend(children.get(current, []))
        return found

    def is_board(self, agent: int) -> bool:
        return self.nodes[agent].level == BOARD_LEVEL

    def _board_of(self, agent: int) -> int:
        roots = [agent, *self.ancestors(agent)]
        return roots[-1]

    # ---- checks ----------------------------------------------------------------

    def _acting(self, actor: Actor) -> Node | None:
        if actor.agent is None:
            return None
        node = self.nodes[actor.agent]
        if not node.active:
            raise GovernanceError(Rule.AGENT_TERMINATED, f"Agent {node.id} is terminated and cannot act.")
        return node

    def check_active(self, agent: int) -> None:
        """An agent is about to act at all: it must not be terminated."""
        self._acting(Actor(agent=agent))

    def check_use(self, agent: int, privilege: str) -> None:
        """An agent is about to do something that needs ``privilege``."""
        node = self._acting(Actor(agent=agent))
        if privilege not in node.privileges:
            raise GovernanceError(
                Rule.MISSING_PRIVILEGE, f"Agent {agent} lacks the privilege {privilege!r}.", privilege=privilege
            )

    def _check_known(self, privileges: Iterable[str]) -> None:
        for privilege in privileges:
            if not is_well_formed(privilege):
                raise GovernanceError(Rule.UNKNOWN_PRIVILEGE, f"Unknown privilege {privilege!r}.", privilege=privilege)

    # ---- operations (each returns an Outcome, or raises GovernanceError) -----------

    def spawn(self, actor: Actor, new_id: int, *, parent: int | None, level: int, privileges: Iterable[str]) -> Outcome:
        wanted = frozenset(privileges)
        self._check_known(wanted)
        creator = self._acting(actor)
        if creator is not None and parent != creator.id:
            raise GovernanceError(Rule.NOT_A_DESCENDANT, "An agent can only create its own children.")
        if parent is None:
            if creator is not None:
                raise GovernanceError(Rule.NOT_A_DESCENDANT, "Only a person can create a root agent.")
            if level not in (BOARD_LEVEL, BOARD_LEVEL + 1):
                raise GovernanceError(Rule.LEVEL_SKIP, "A root agent is the board (level 0) or an executive (level 1).")
        else:
            parent_node = self.nodes[parent]
            if not parent_node.active:
                raise GovernanceError(Rule.AGENT_TERMINATED, f"Agent {parent} is terminated.")
            if creator is not None and "spawn" not in creator.privileges:
                raise GovernanceError(Rule.MISSING_PRIVILEGE, "Spawning needs 'spawn'.", privilege="spawn")
            if level != parent_node.level + 1:
                expected = parent_node.level + 1
                raise GovernanceError(
                    Rule.LEVEL_SKIP, f"A child of a level {parent_node.level} agent is level {expected}."
                )
            if level > self.max_depth:
                raise GovernanceError(Rule.MAX_DEPTH, f"The hierarchy is limited to level {self.max_depth}.")
            extra = sorted(wanted - parent_node.privileges)
            if extra:
                raise GovernanceError(
                    Rule.PRIVILEGE_ESCALATION,
                    f"A child cannot hold privileges its creator lacks: {', '.join(extra)}.",
                    privilege=extra[0],
                )
        node = Node(id=new_id, level=level, parent=parent, privileges=wanted)
        self.nodes[new_id] = node
        record = AuditRecord(Action.SPAWN, True, actor, target=new_id, reason=f"level {level}")
        return Outcome(created=node, audit=[record])

    def terminate(self, actor: Actor, target: int, *, reason: str = "") -> Outcome:
        acting = self._acting(actor)
        if acting is not None:
            if "terminate" not in acting.privileges and not self.is_board(acting.id):
                raise GovernanceError(
                    Rule.MISSING_PRIVILEGE, "Terminating needs the 'terminate' privilege.", privilege="terminate"
                )
            if acting.id not in self.ancestors(target):  # the board is every agent's ancestor in its tree
                raise GovernanceError(Rule.NOT_A_DESCENDANT, f"Agent {target} does not descend from agent {acting.id}.")
        outcome = Outcome()
        for agent in [target, *self.descendants(target)]:
            node = self.nodes[agent]
            if node.active:
                self.nodes[agent] = outcome.changed[agent] = replace(node, active=False)
        outcome.audit.append(AuditRecord(Action.TERMINATE, True, actor, target=target, reason=reason))
        return outcome

    def grant(self, actor: Actor, target: int, privilege: str) -> Outcome:
        self._check_known([privilege])
        acting = self._acting(actor)
        if acting is not None:
            if not self.is_board(acting.id) or self._board_of(target) != acting.id:
                raise GovernanceError(Rule.NOT_THE_BOARD, "Only the board (or a superuser) grants privileges.")
            if privilege not in acting.privileges:
                message = f"The board cannot grant {privilege!r}, which it lacks."
                raise GovernanceError(Rule.PRIVILEGE_ESCALATION, message, privilege=privilege)
        elif not actor.superuser:
            raise GovernanceError(Rule.NOT_THE_BOARD, "Only the board (or a superuser) grants privileges.")
        node = self.nodes[target]
        if not node.active:
            raise GovernanceError(Rule.AGENT_TERMINATED, f"Agent {target} is terminated.")
        if node.parent is not None and privilege not in self.nodes[node.parent].privileges:
            raise GovernanceError(
                Rule.PRIVILEGE_ESCALATION,
                f"Agent {target}'s creator lacks {privilege!r}; grant it there first.",
                privilege=privilege,
            )
        outcome = Outcome()
        if privilege not in node.privileges:
            self.nodes[target] = outcome.changed[target] = replace(node, privileges=node.privileges | {privilege})
        outcome.audit.append(AuditRecord(Action.GRANT, True, actor, target=target, privilege=privilege))
        return outcome

    def revoke(self, actor: Actor, target: int, privilege: str) -> Outcome:
        acting = self._acting(actor)
        if acting is not None:
            board_override = self.is_board(acting.id) and self._board_of(target) == acting.id
            if not board_override and acting.id not in self.ancestors(target):
                raise GovernanceError(Rule.NOT_A_DESCENDANT, f"Agent {target} does not descend from agent {acting.id}.")
        elif not actor.superuser:
            raise GovernanceError(Rule.NOT_THE_BOARD, "Only the board, an ancestor or a superuser revokes privileges.")
        outcome = Outcome()
        for agent in [target, *self.descendants(target)]:
            node = self.nodes[agent]
            if privilege in node.privileges:
                self.nodes[agent] = outcome.changed[agent] = replace(node, privileges=node.privileges - {privilege})
        outcome.audit.append(AuditRecord(Action.REVOKE, True, actor, target=target, privilege=privilege))
        return outcome


def check_direct_message(sender: Node, *, talks_to: Iterable[int], recipient: Node) -> None:
    """A direct message goes only to an agent on the sender's talks-to list, and needs 'message'."""
    if not sender.active:
        raise GovernanceError(Rule.AGENT_TERMINATED, f"Agent {sender.id} is terminated and cannot act.")
    if "message" not in sender.privileges:
        raise GovernanceError(Rule.MISSING_PRIVILEGE, "Direct messages need 'message'.", privilege="message")
    if recipient.id not in set(talks_to):
        raise GovernanceError(Rule.NOT_IN_TALKS_TO, f"Agent {recipient.id} is not on the sender's talks-to list.")
    if not recipient.active:
        raise GovernanceError(Rule.AGENT_TERMINATED, f"Agent {recipient.id} is terminated.")


def check_broadcast(sender: Node, *, rooms: Iterable[str], room: str) -> None:
    """A broadcast needs 'broadcast' and membership of the room."""
    if not sender.active:
        raise GovernanceError(Rule.AGENT_TERMINATED, f"Agent {sender.id} is terminated and cannot act.")
    if "broadcast" not in sender.privileges:
        raise GovernanceError(Rule.MISSING_PRIVILEGE, "Broadcasting needs 'broadcast'.", privilege="broadcast")
    if room not in set(rooms):
        raise GovernanceError(Rule.NOT_A_ROOM_MEMBER, f"Not a member of room {room!r}.")


def denied(action: Action, actor: Actor, error: GovernanceError, *, target: int | None = None) -> AuditRecord:
    """The audit record of a refused attempt."""
    return AuditRecord(
        action, False, actor, target=target, privilege=error.privilege, reason=error.message, rule=error.rule.value
    )


def violations(hierarchy: Hierarchy) -> list[str]:
    """Invariant check used by tests and by the admin's consistency view."""
    problems = []
    for node in hierarchy.nodes.values():
        if node.parent is None:
            continue
        parent = hierarchy.nodes[node.parent]
        if node.level != parent.level + 1:
            problems.append(f"{node.id}: level {node.level} under level {parent.level}")
        if not node.privileges <= parent.privileges:
            problems.append(f"{node.id}: holds {sorted(node.privileges - parent.privileges)} its creator lacks")
        if node.active and not parent.active:
            problems.append(f"{node.id}: alive under terminated {parent.id}")
    return problems
