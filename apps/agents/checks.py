"""What saving an agent would say, asked without saving: field problems, then the governance
rule that would refuse it. Nothing is written, not even an audit entry: the API's
``/api/agents/validate/`` and the admin's form check ask here before a save.

Each check mirrors its service (``create_agent``, ``update_agent``, the admin's
``set_privileges``), calling the same checks in the same order, and runs the governance
rules on the owner's hierarchy as it stands (unlocked; the save itself locks and checks again).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from apps.engine.governance import Action, GovernanceError, Hierarchy
from apps.engine.providers import required_privileges

from . import services
from .governance import Acting, _check_owner, _deny, _hierarchy
from .models import Agent


def _trial(acting: Acting, owner) -> Hierarchy:
    _check_owner(acting, owner)
    return _hierarchy(owner, lock=False)


def check_new_agent(
    acting: Acting,
    *,
    owner,
    provider: str,
    config: dict[str, Any],
    parent: Agent | None = None,
    level: int | None = None,
    privileges: Iterable[str] | None = None,
) -> None:
    """Raise the ``GovernanceError`` placing this agent would meet (``spawn_agent``'s rules)."""
    wanted = frozenset(privileges) if privileges is not None else required_privileges(provider, config)
    level = level if level is not None else (parent.level + 1 if parent is not None else 1)
    _trial(acting, owner).spawn(
        acting.engine_actor(), -1, parent=parent.pk if parent else None, level=level, privileges=wanted
    )


def check_privileges_change(
    acting: Acting,
    agent: Agent,
    *,
    provider: str,
    config: dict[str, Any],
    privileges: Iterable[str] | None = None,
    audit: bool = False,
) -> None:
    """Raise the ``GovernanceError`` giving ``agent`` exactly ``privileges`` (when given:
    ``set_privileges``) and then what its provider settings need (``update_agent``'s grants)
    would meet, step by step as the services apply them.

    With ``audit``, a refusal is written to the audit log as the refused step's service
    would write it (for a form about to save; the API's validate writes nothing).
    """
    hierarchy, actor = _trial(acting, agent.owner), acting.engine_actor()
    held = set(agent.privileges)
    steps: list[tuple[Action, str]] = []
    if privileges is not None:
        wanted = set(privileges)
        steps += [(Action.REVOKE, p) for p in sorted(held - wanted)] + [
            (Action.GRANT, p) for p in sorted(wanted - held)
        ]
        held = wanted
    steps += [(Action.GRANT, p) for p in sorted(required_privileges(provider, config) - held)]
    for action, privilege in steps:
        try:
            if action == Action.REVOKE:
                hierarchy.revoke(actor, agent.pk, privilege)
            else:
                hierarchy.grant(actor, agent.pk, privilege)
        except GovernanceError as error:
            if audit:
                _deny(agent.owner, acting, action, error, target=agent.pk)
            raise


def check_create_agent(
    *,
    owner,
    name: str,
    provider: str,
    config: dict[str, Any],
    parent: Agent | None = None,
    level: int | None = None,
    privileges: list[str] | None = None,
    memory_top_k: int = 0,
    memory_scope: str = "swarm",
    **_unchecked: Any,
) -> None:
    """Raise what ``services.create_agent`` would (``FieldsError``, then ``GovernanceError``)
    for these arguments, writing nothing. Free-text fields (instructions, description) need no check."""
    services._check_memory(memory_top_k, memory_scope)
    services.check_agent(owner=owner, name=name, provider=provider, config=config)
    check_new_agent(
        Acting(user=owner),
        owner=owner,
        provider=provider,
        config=config,
        parent=parent,
        level=level,
        privileges=privileges,
    )


def check_update_agent(agent: Agent, *, acting_user=None, **changes: Any) -> None:
    """Raise what ``services.update_agent(agent, acting_user=..., **changes)`` would, writing nothing."""
    services._check_memory(
        changes.get("memory_top_k", agent.memory_top_k), changes.get("memory_scope", agent.memory_scope)
    )
    provider = changes.get("provider", agent.provider)
    config = changes.get("config", agent.config)
    services.check_agent(
        owner=agent.owner, name=changes.get("name", agent.name), provider=provider, config=config, instance=agent
    )
    check_privileges_change(Acting(user=acting_user or agent.owner), agent, provider=provider, config=config)
