"""Governance services: spawn, terminate, grant, revoke, and the check before an agent acts.

The only code that changes the hierarchy or privileges. Each operation
locks the owner's agents, loads them into the engine's ``Hierarchy``,
applies one rule-checked operation, persists what changed and writes the
audit log. A denied attempt is audited in its own transaction and then
raised as ``GovernanceError`` (call these outside an enclosing transaction,
or a rollback there takes the denial's audit entry with it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.engine import governance as rules
from apps.engine.governance import (
    Action,
    Actor,
    AuditRecord,
    GovernanceError,
    Hierarchy,
    Node,
    Outcome,
    Rule,
    denied,
)
from apps.engine.providers import required_privileges
from apps.runs.broadcast import publish_agents_changed_on_commit

from .models import Agent, AgentStatus, AuditEntry


@dataclass(frozen=True)
class Acting:
    """Who acts: a person (for the board of their own trees), or one of their agents."""

    user: Any
    agent: Agent | None = None

    @property
    def label(self) -> str:
        return f"agent {self.agent.name}" if self.agent else f"user {self.user.get_username()}"

    def engine_actor(self) -> Actor:
        if self.agent is not None:
            return Actor(agent=self.agent.pk, label=self.label)
        return Actor(superuser=True, label=self.label)


def _max_depth() -> int:
    return settings.SWARMWEB["MAX_DEPTH"]


def _hierarchy(owner, *, lock: bool = True) -> Hierarchy:
    agents = Agent.objects.filter(owner=owner)
    if lock:
        agents = agents.select_for_update()
    nodes = {
        pk: Node(
            id=pk, level=level, parent=parent, privileges=frozenset(privileges), active=status == AgentStatus.ACTIVE
        )
        for pk, level, parent, privileges, status in agents.values_list(
            "pk", "level", "parent_id", "privileges", "status"
        )
    }
    return Hierarchy(nodes=nodes, max_depth=_max_depth())


def _labels(owner, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    return dict(Agent.objects.filter(owner=owner, pk__in=wanted).values_list("pk", "name")) if wanted else {}


def _write_audit(owner, acting: Acting, records: list[AuditRecord], *, run=None, labels: dict[int, str] | None = None):
    labels = labels if labels is not None else _labels(owner, [r.target for r in records])
    AuditEntry.objects.bulk_create(
        AuditEntry(
            owner=owner,
            action=record.action.value,
            allowed=record.allowed,
            actor_agent=acting.agent,
            actor_user=acting.user if acting.agent is None else None,
            actor_label=acting.label,
            target_id=record.target if record.target in labels else None,
            target_label=labels.get(record.target, ""),
            privilege=record.privilege,
            rule=record.rule,
            reason=record.reason,
            run=run,
        )
        for record in records
    )


def _deny(owner, acting: Acting, action: Action, error: GovernanceError, *, target: int | None, run=None):
    with transaction.atomic():
        _write_audit(owner, acting, [denied(action, acting.engine_actor(), error, target=target)], run=run)
    raise error


def _check_owner(acting: Acting, owner) -> None:
    if acting.agent is not None and acting.agent.owner_id != owner.pk:
        raise GovernanceError(Rule.NOT_A_DESCENDANT, "That agent belongs to another hierarchy.")
    if acting.agent is None and acting.user.pk != owner.pk and not acting.user.is_superuser:
        raise GovernanceError(Rule.NOT_THE_BOARD, "Only the owner (or a superuser) governs these agents.")


def _changed(owner) -> None:
    publish_agents_changed_on_commit(owner.pk)


def _persist(outcome: Outcome) -> None:
    now = timezone.now()
    for pk, node in outcome.changed.items():
        fields: dict[str, Any] = {"privileges": sorted(node.privileges)}
        if not node.active:
            fields.update(status=AgentStatus.TERMINATED, terminated_at=now)
        Agent.objects.filter(pk=pk).update(**fields)


# ---- operations --------------------------------------------------------------------


def spawn_agent(
    acting: Acting,
    *,
    owner,
    name: str,
    provider: str,
    config: dict[str, Any],
    parent: Agent | None = None,
    level: int | None = None,
    privileges: Iterable[str] | None = None,
    instructions: str = "",
    description: str = "",
    run=None,
) -> Agent:
    """Create an agent under ``parent`` (or a root agent, by a person).

    ``privileges`` defaults to what the agent's own provider needs
    (``model.<name>``, ``tool.<skill>``); ``level`` to one below the parent.
    """
    from .services import check_agent

    check_agent(owner=owner, name=name, provider=provider, config=config)
    wanted = frozenset(privileges) if privileges is not None else required_privileges(provider, config)
    level = level if level is not None else (parent.level + 1 if parent is not None else 1)
    error = None
    with transaction.atomic():
        _check_owner(acting, owner)
        hierarchy = _hierarchy(owner)
        try:
            outcome = hierarchy.spawn(
                acting.engine_actor(), -1, parent=parent.pk if parent else None, level=level, privileges=wanted
            )
        except GovernanceError as exc:
            error = exc
        else:
            agent = Agent.objects.create(
                owner=owner,
                name=name,
                provider=provider,
                config=config,
                instructions=instructions,
                description=description,
                level=level,
                parent=parent,
                privileges=sorted(outcome.created.privileges),
            )
            _changed(owner)
            record = outcome.audit[0]
            _write_audit(
                owner,
                acting,
                [
                    AuditRecord(
                        record.action,
                        True,
                        record.actor,
                        target=agent.pk,
                        reason=f"level {level}, privileges: {', '.join(sorted(wanted)) or 'none'}",
                    )
                ],
                run=run,
                labels={agent.pk: agent.name},
            )
    if error is not None:
        _deny(owner, acting, Action.SPAWN, error, target=parent.pk if parent else None, run=run)
    return agent


def _govern(
    acting: Acting,
    target: Agent,
    action: Action,
    operate: Callable[[Hierarchy], Outcome],
    *,
    run=None,
    then: Callable[[Outcome], None] | None = None,
) -> Outcome:
    """Apply one rule-checked operation to ``target``'s hierarchy: lock, check, persist, audit.

    ``then`` runs inside the same transaction after the change is saved.
    A refusal is audited in its own transaction and raised.
    """
    error = None
    with transaction.atomic():
        _check_owner(acting, target.owner)
        try:
            outcome = operate(_hierarchy(target.owner))
        except GovernanceError as exc:
            error = exc
        else:
            _persist(outcome)
            _changed(target.owner)
            _write_audit(target.owner, acting, outcome.audit, run=run)
            if then is not None:
                then(outcome)
    if error is not None:
        _deny(target.owner, acting, action, error, target=target.pk, run=run)
    return outcome


def terminate_agent(acting: Acting, target: Agent, *, reason: str = "", run=None) -> list[int]:
    """Terminate ``target`` and its whole subtree; cancel their queued and running steps.

    Returns the ids of the agents terminated now.
    """
    from apps.runs.services import cancel_steps_of_agents

    def cancel_their_steps(outcome: Outcome) -> None:
        cancel_steps_of_agents(list(outcome.changed), reason=f"Agent terminated by {acting.label}.")

    actor = acting.engine_actor()
    outcome = _govern(
        acting,
        target,
        Action.TERMINATE,
        lambda hierarchy: hierarchy.terminate(actor, target.pk, reason=reason),
        run=run,
        then=cancel_their_steps,
    )
    return list(outcome.changed)


def grant_privilege(acting: Acting, target: Agent, privilege: str, *, run=None) -> None:
    actor = acting.engine_actor()
    _govern(acting, target, Action.GRANT, lambda hierarchy: hierarchy.grant(actor, target.pk, privilege), run=run)


def revoke_privilege(acting: Acting, target: Agent, privilege: str, *, run=None) -> list[int]:
    """Revoke from ``target`` and every descendant; returns the ids that lost it."""
    actor = acting.engine_actor()
    outcome = _govern(
        acting, target, Action.REVOKE, lambda hierarchy: hierarchy.revoke(actor, target.pk, privilege), run=run
    )
    return list(outcome.changed)


def set_privileges(acting: Acting, target: Agent, privileges: Iterable[str]) -> None:
    """Grant and revoke so that ``target`` holds exactly ``privileges`` (admin forms)."""
    wanted, held = set(privileges), set(target.privileges)
    for privilege in sorted(held - wanted):
        revoke_privilege(acting, target, privilege)
    for privilege in sorted(wanted - held):
        grant_privilege(acting, target, privilege)


# ---- before an agent acts ---------------------------------------------------------------


def check_may_act(agent: Agent, *, run=None, extra: Iterable[str] = ()) -> None:
    """Raise (and audit) ``GovernanceError`` unless ``agent`` is active and holds what acting needs.

    Called at the moment of every step, so a privilege revoked a moment ago
    blocks the very next model or tool call.
    """
    hierarchy = Hierarchy(nodes={agent.pk: _node(agent)})
    needed = sorted(required_privileges(agent.provider, agent.config) | set(extra))
    try:
        hierarchy.check_active(agent.pk)
        for privilege in needed:
            hierarchy.check_use(agent.pk, privilege)
    except GovernanceError as error:
        acting = Acting(user=agent.owner, agent=agent)
        with transaction.atomic():
            _write_audit(
                agent.owner,
                acting,
                [denied(Action.USE, acting.engine_actor(), error, target=agent.pk)],
                run=run,
                labels={agent.pk: agent.name},
            )
        raise


def _node(agent: Agent) -> Node:
    return Node(
        id=agent.pk,
        level=agent.level,
        parent=agent.parent_id,
        privileges=frozenset(agent.privileges),
        active=agent.is_active,
    )


def check_direct_message(sender: Agent, recipient: Agent, *, run=None) -> None:
    """Raise (and audit) unless ``sender`` may message ``recipient`` directly (talks-to list)."""
    talks_to = list(sender.talks_to.values_list("pk", flat=True))
    try:
        rules.check_direct_message(_node(sender), talks_to=talks_to, recipient=_node(recipient))
    except GovernanceError as error:
        _audit_use_denied(sender, Action.MESSAGE, error, target=recipient, run=run)
        raise


def check_broadcast(sender: Agent, room: str, *, run=None) -> None:
    """Raise (and audit) unless ``sender`` holds 'broadcast' and belongs to ``room``."""
    try:
        rules.check_broadcast(_node(sender), rooms=sender.rooms, room=room)
    except GovernanceError as error:
        _audit_use_denied(sender, Action.BROADCAST, error, target=sender, run=run)
        raise


def _audit_use_denied(agent: Agent, action: Action, error: GovernanceError, *, target: Agent, run=None) -> None:
    acting = Acting(user=agent.owner, agent=agent)
    with transaction.atomic():
        record = denied(action, acting.engine_actor(), error, target=target.pk)
        _write_audit(agent.owner, acting, [record], run=run, labels={target.pk: target.name})


# ---- previews for forms (read-only: the rules run on a copy, nothing is written) -----------


def _trial(owner) -> Hierarchy:
    """The owner's hierarchy as it stands, unlocked: for asking the rules what they would say."""
    return _hierarchy(owner, lock=False)


def _copy(hierarchy: Hierarchy) -> Hierarchy:
    return Hierarchy(nodes=dict(hierarchy.nodes), max_depth=hierarchy.max_depth)


def grantable_privileges(
    acting: Acting, owner, offered: Iterable[str], *, target: Agent | None = None, parent: Agent | None = None
) -> list[str]:
    """Of ``offered``, those ``acting`` may give ``target`` (an existing agent) or, with no target, a
    new agent under ``parent`` (a root for ``None``). The rules decide, each tried on a copy."""
    hierarchy, actor = _trial(owner), acting.engine_actor()
    grantable = []
    for privilege in sorted(set(offered)):
        trial = _copy(hierarchy)
        try:
            if target is not None:
                trial.grant(actor, target.pk, privilege)
            else:
                level = parent.level + 1 if parent is not None else 1
                trial.spawn(actor, -1, parent=parent.pk if parent else None, level=level, privileges=[privilege])
        except GovernanceError:
            continue
        grantable.append(privilege)
    return grantable


@dataclass(frozen=True)
class TerminatePreview:
    """What terminating an agent would do: the agents it takes with it, or the rule refusing it."""

    agents: list[Agent]  # the target first, then its active descendants
    refusal: GovernanceError | None = None


def terminate_preview(acting: Acting, target: Agent) -> TerminatePreview:
    trial = _trial(target.owner)
    try:
        outcome = trial.terminate(acting.engine_actor(), target.pk)
    except GovernanceError as error:
        return TerminatePreview(agents=[target], refusal=error)
    taken = Agent.objects.filter(pk__in=list(outcome.changed)).exclude(pk=target.pk).order_by("level", "name")
    return TerminatePreview(agents=[target, *taken] if target.pk in outcome.changed else list(taken))
