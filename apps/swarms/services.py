"""Swarm services: create and change swarms; validate strategy configs against members."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.db import transaction

from apps.agents.models import Agent
from apps.core.errors import FieldsError
from apps.engine.errors import EngineError, ErrorCode
from apps.engine.strategies import build_strategy

from .models import Swarm, SwarmMember


def check_strategy(strategy: str, config: Any, member_names: Sequence[str]) -> None:
    """Raise ``FieldsError`` if ``config`` is not valid for ``strategy`` with these members."""
    if not isinstance(config, dict):
        raise FieldsError("Invalid strategy configuration.", fields={"strategy_config": ["Must be a JSON object."]})
    try:
        build_strategy(strategy, config, member_names)
    except EngineError as exc:
        if exc.code == ErrorCode.UNKNOWN_STRATEGY:
            raise FieldsError(exc.message, fields={"strategy": [exc.message]}, code=exc.code) from None
        fields = {f"strategy_config.{k}": v for k, v in exc.fields.items()} or {"strategy_config": [exc.message]}
        raise FieldsError(exc.message, fields=fields, code=exc.code) from None


def _resolve_members(owner, agents: Sequence[Agent | int | str]) -> list[Agent]:
    resolved: list[Agent] = []
    missing: list[str] = []
    for ref in agents:
        if isinstance(ref, Agent):
            agent = ref if ref.owner_id == owner.pk else None
        elif isinstance(ref, int):
            agent = Agent.objects.filter(owner=owner, pk=ref).first()
        else:
            agent = Agent.objects.filter(owner=owner, name=ref).first()
        if agent is None:
            missing.append(str(ref.pk if isinstance(ref, Agent) else ref))
        else:
            resolved.append(agent)
    if missing:
        raise FieldsError(
            "Unknown agents.",
            fields={"members": [f"Unknown agent: {m}." for m in missing]},
            code=ErrorCode.UNKNOWN_AGENT,
        )
    names = [a.name for a in resolved]
    if len(set(names)) != len(names):
        raise FieldsError("Duplicate members.", fields={"members": ["An agent can be a member only once."]})
    return resolved


@transaction.atomic
def create_swarm(
    *,
    owner,
    name: str,
    strategy: str,
    members: Sequence[Agent | int | str],
    strategy_config: dict[str, Any] | None = None,
    description: str = "",
    max_steps: int | None = None,
    max_cost: Decimal | None = None,
    max_seconds: int | None = None,
) -> Swarm:
    config = strategy_config if strategy_config is not None else {}
    if not name.strip():
        raise FieldsError("A swarm needs a name.", fields={"name": ["This field is required."]})
    if Swarm.objects.filter(owner=owner, name=name).exists():
        raise FieldsError("Name taken.", fields={"name": [f"You already have a swarm named {name!r}."]})
    agents = _resolve_members(owner, members)
    if not agents:
        raise FieldsError("A swarm needs members.", fields={"members": ["Add at least one agent."]})
    check_strategy(strategy, config, [a.name for a in agents])
    swarm = Swarm.objects.create(
        owner=owner,
        name=name,
        description=description,
        strategy=strategy,
        strategy_config=config,
        max_steps=max_steps,
        max_cost=max_cost,
        max_seconds=max_seconds,
    )
    SwarmMember.objects.bulk_create(SwarmMember(swarm=swarm, agent=a, position=i) for i, a in enumerate(agents))
    return swarm


@transaction.atomic
def update_swarm(swarm: Swarm, *, members: Sequence[Agent | int | str] | None = None, **changes: Any) -> Swarm:
    for field in ("name", "description", "strategy", "strategy_config", "max_steps", "max_cost", "max_seconds"):
        if field in changes:
            setattr(swarm, field, changes[field])
    if Swarm.objects.filter(owner=swarm.owner, name=swarm.name).exclude(pk=swarm.pk).exists():
        raise FieldsError("Name taken.", fields={"name": [f"You already have a swarm named {swarm.name!r}."]})
    agents = _resolve_members(swarm.owner, members) if members is not None else [m.agent for m in swarm.members.all()]
    if not agents:
        raise FieldsError("A swarm needs members.", fields={"members": ["Add at least one agent."]})
    check_strategy(swarm.strategy, swarm.strategy_config, [a.name for a in agents])
    swarm.save()
    if members is not None:
        swarm.members.all().delete()
        SwarmMember.objects.bulk_create(SwarmMember(swarm=swarm, agent=a, position=i) for i, a in enumerate(agents))
    return swarm
