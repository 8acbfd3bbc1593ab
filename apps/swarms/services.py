"""Swarm services: create and change swarms; validate strategy configs against members."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from apps.agents.models import Agent
from apps.core.errors import Conflict, FieldsError
from apps.engine.definitions import layout_errors
from apps.engine.errors import EngineError, ErrorCode
from apps.engine.strategies import build_strategy

from .models import Swarm, SwarmMember


def check_strategy(
    strategy: str, config: Any, member_names: Sequence[str], *, members: Sequence[Agent | Swarm] = ()
) -> None:
    """Raise ``FieldsError`` if ``config`` is not valid for ``strategy`` with these members.

    With ``members`` (the resolved agents and swarms), rules that depend on what
    a strategy cannot see (agents' levels) are checked too: see ``check_board``.
    """
    if not isinstance(config, dict):
        raise FieldsError("Invalid strategy configuration.", fields={"strategy_config": ["Must be a JSON object."]})
    try:
        built = build_strategy(strategy, config, member_names)
    except EngineError as exc:
        if exc.code == ErrorCode.UNKNOWN_STRATEGY:
            raise FieldsError(exc.message, fields={"strategy": [exc.message]}, code=exc.code) from None
        fields = {f"strategy_config.{k}": v for k, v in exc.fields.items()} or {"strategy_config": [exc.message]}
        raise FieldsError(exc.message, fields=fields, code=exc.code) from None
    if members:
        check_board(built, members)
        check_policy_owner(strategy, config, members[0].owner_id)


def check_policy_owner(strategy: str, config: dict, owner_id: int) -> None:
    """A ``puppeteer`` swarm may only use a policy its owner trained."""
    if strategy != "puppeteer":
        return
    from apps.learning.models import TrainingRun

    if not TrainingRun.objects.filter(pk=config.get("training_run"), owner_id=owner_id).exists():
        message = "No training run of yours has this id."
        raise FieldsError(
            message, fields={"strategy_config.training_run": [message]}, code=ErrorCode.INVALID_STRATEGY_CONFIG
        )


def check_board(strategy: Any, members: Sequence[Agent | Swarm]) -> None:
    """With ``board_only`` (the board room), every speaker must be a level-0 agent: the Supreme
    Oversight Board. Strategies see member names only, never levels, so the rule lives here."""
    if not getattr(strategy, "board_only", False):
        return
    speakers = set(strategy.speakers())
    problems = []
    for member in members:
        name = _member_name(member)
        if name not in speakers:
            continue
        if isinstance(member, Swarm):
            problems.append(f"{name} is a swarm: only level-0 agents sit on the board.")
        elif member.level != 0:
            problems.append(f"{name} is a level-{member.level} agent: only level-0 agents sit on the board.")
    if problems:
        raise FieldsError(
            "Only the board (level-0 agents) may speak in a board room.",
            fields={"members": problems},
            code=ErrorCode.INVALID_STRATEGY_CONFIG,
        )


Member = Agent | Swarm


def _resolve_members(owner, refs: Sequence[Agent | Swarm | int | str], *, parent: Swarm | None = None) -> list[Member]:
    """Agents (instances, ids or names) and swarms (instances or ``"swarm:<name or id>"``) of ``owner``."""
    resolved: list[Member] = []
    missing: list[str] = []
    for ref in refs:
        member: Member | None
        if isinstance(ref, Agent | Swarm):
            member = ref if ref.owner_id == owner.pk else None
        elif isinstance(ref, int):
            member = Agent.objects.filter(owner=owner, pk=ref).first()
        elif isinstance(ref, str) and ref.startswith("swarm:"):
            key = ref.removeprefix("swarm:")
            swarms = Swarm.objects.filter(owner=owner)
            member = swarms.filter(pk=int(key)).first() if key.isdigit() else swarms.filter(name=key).first()
        else:
            member = Agent.objects.filter(owner=owner, name=ref).first()
        if member is None:
            missing.append(str(getattr(ref, "pk", ref)))
        else:
            resolved.append(member)
    if missing:
        raise FieldsError(
            "Unknown members.",
            fields={"members": [f"Unknown member: {m}." for m in missing]},
            code=ErrorCode.UNKNOWN_AGENT,
        )
    names = [_member_name(m) for m in resolved]
    if len(set(names)) != len(names):
        raise FieldsError("Duplicate members.", fields={"members": ["Each member (agent or swarm) appears once."]})
    if parent is not None:
        for member in resolved:
            if isinstance(member, Swarm) and (member.pk == parent.pk or _contains(member, parent)):
                raise FieldsError(
                    "A swarm cannot contain itself.",
                    fields={"members": [f"Swarm {member.name!r} contains {parent.name!r}: that would be a cycle."]},
                )
    return resolved


def _member_name(member: Member) -> str:
    return member.name if isinstance(member, Agent) else member.member_name


def _contains(swarm: Swarm, target: Swarm, seen: set[int] | None = None) -> bool:
    """Whether ``swarm`` has ``target`` among its members, directly or through child swarms."""
    seen = seen if seen is not None else set()
    if swarm.pk in seen:
        return False
    seen.add(swarm.pk)
    for child in Swarm.objects.filter(parent_memberships__swarm=swarm):
        if child.pk == target.pk or _contains(child, target, seen):
            return True
    return False


def _members(swarm: Swarm, resolved: list[Member]) -> list[SwarmMember]:
    return [
        SwarmMember(swarm=swarm, position=i, **({"agent": m} if isinstance(m, Agent) else {"child_swarm": m}))
        for i, m in enumerate(resolved)
    ]


class _Problems:
    """Every problem with a swarm's fields, gathered so a form or API client sees them all at once."""

    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}
        self.first: FieldsError | None = None

    def add(self, error: FieldsError) -> None:
        self.first = self.first or error
        for key, messages in error.fields.items():
            self.fields.setdefault(key, []).extend(messages)

    def check(self, function, *args, **kwargs):
        """``function(...)``, or None with its problems noted."""
        try:
            return function(*args, **kwargs)
        except FieldsError as error:
            self.add(error)
            return None

    def raise_any(self) -> None:
        if self.first is None:
            return
        if len(self.fields) == 1 or set(self.fields) == set(self.first.fields):
            raise FieldsError(self.first.message, fields=self.fields, code=self.first.code)
        raise FieldsError("The swarm has several problems.", fields=self.fields)


def _check_name(owner, name: str, *, exclude: int | None = None) -> None:
    if not name.strip():
        raise FieldsError("A swarm needs a name.", fields={"name": ["This field is required."]})
    if Swarm.objects.filter(owner=owner, name=name).exclude(pk=exclude).exists():
        raise FieldsError("Name taken.", fields={"name": [f"You already have a swarm named {name!r}."]})


def _check_members(owner, members, *, parent: Swarm | None = None, problems: _Problems) -> list[Member] | None:
    agents = problems.check(_resolve_members, owner, members, parent=parent)
    if agents is not None and not agents:
        problems.add(FieldsError("A swarm needs members.", fields={"members": ["Add at least one agent."]}))
        return None
    return agents


def check_layout(layout: Any) -> None:
    """Raise ``FieldsError`` unless ``layout`` is a drawing's positions (``LAYOUT_SCHEMA``)."""
    errors = layout_errors(layout)
    if errors:
        fields = {f"layout.{key}" if key else "layout": messages for key, messages in errors.items()}
        raise FieldsError("Invalid layout.", fields=fields)


def check_swarm(
    *,
    owner,
    name: str,
    strategy: str,
    strategy_config: Any,
    members: Sequence[Agent | Swarm | int | str],
    instance: Swarm | None = None,
    layout: Any = None,
) -> list[Member]:
    """Raise ``FieldsError`` with every problem a save of this swarm would report (name,
    members, strategy and its config, layout); write nothing. ``instance`` is the swarm
    being edited (its own name is no clash; it may not contain itself).

    Returns the resolved members, in order.
    """
    problems = _Problems()
    problems.check(_check_name, owner, name, exclude=instance.pk if instance is not None else None)
    agents = _check_members(owner, members, parent=instance, problems=problems)
    if agents is not None:
        names = [_member_name(a) for a in agents]
        problems.check(check_strategy, strategy, strategy_config, names, members=agents)
    if layout is not None:
        problems.check(check_layout, layout)
    problems.raise_any()
    assert agents is not None  # a problem with the members was raised above
    return agents


@transaction.atomic
def create_swarm(
    *,
    owner,
    name: str,
    strategy: str,
    members: Sequence[Agent | Swarm | int | str],
    strategy_config: dict[str, Any] | None = None,
    description: str = "",
    max_steps: int | None = None,
    max_cost: Decimal | None = None,
    max_seconds: int | None = None,
    layout: dict[str, Any] | None = None,
) -> Swarm:
    """Create a swarm with its members in order; every problem is reported at once, nothing written."""
    config = strategy_config if strategy_config is not None else {}
    layout = layout if layout is not None else {}
    agents = check_swarm(
        owner=owner, name=name, strategy=strategy, strategy_config=config, members=members, layout=layout
    )
    try:
        with transaction.atomic():
            swarm = Swarm.objects.create(
                owner=owner,
                name=name,
                description=description,
                strategy=strategy,
                strategy_config=config,
                layout=layout,
                max_steps=max_steps,
                max_cost=max_cost,
                max_seconds=max_seconds,
            )
    except IntegrityError:  # the same name saved by another request a moment ago
        raise FieldsError("Name taken.", fields={"name": [f"You already have a swarm named {name!r}."]}) from None
    SwarmMember.objects.bulk_create(_members(swarm, agents))
    return swarm


def check_version(swarm: Swarm, expected_version: int | None) -> None:
    """Raise ``Conflict`` (code ``conflict``) if ``swarm`` is no longer at ``expected_version``
    (None: no check). Saves call it under the swarm's row lock."""
    if expected_version is None or expected_version == swarm.version:
        return
    message = (
        f"Someone else saved this swarm first (it is at version {swarm.version}; you edited version "
        f"{expected_version}). Reload it to see their changes, then make yours again."
    )
    raise Conflict(message, fields={"version": [message]}, code=ErrorCode.CONFLICT)


EDITABLE = ("name", "description", "strategy", "strategy_config", "layout", "max_steps", "max_cost", "max_seconds")


def update_swarm(
    swarm: Swarm,
    *,
    members: Sequence[Agent | Swarm | int | str] | None = None,
    expected_version: int | None = None,
    **changes: Any,
) -> Swarm:
    """Change a swarm (any of its fields, and its members in order), all or nothing; every
    problem is reported at once. Every saved change adds one to its ``version``.

    With ``expected_version`` (the version the editor started from), a swarm someone else
    saved since is not overwritten: ``Conflict`` (code ``conflict``), nothing written.

    The swarm's row is locked for the change, and the version is compared under that
    lock, so two edits at once apply one after the other and two editors of the same
    version cannot both succeed. ``swarm`` is updated in place only once the change is
    saved: after a rejected change it still holds what is stored.
    """
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise TypeError(f"update_swarm() got unexpected fields: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        locked = Swarm.objects.select_for_update().filter(pk=swarm.pk).order_by().first()
        if locked is None:
            raise FieldsError("This swarm no longer exists.", fields={"swarm": ["Deleted."]})
        check_version(locked, expected_version)
        for field in EDITABLE:
            if field in changes:
                setattr(locked, field, changes[field])
        current = members if members is not None else locked.member_objects()
        agents = check_swarm(
            owner=locked.owner,
            name=locked.name,
            strategy=locked.strategy,
            strategy_config=locked.strategy_config,
            members=current,
            instance=locked,
            layout=locked.layout,
        )
        locked.version += 1
        try:
            with transaction.atomic():
                locked.save()
        except IntegrityError:  # the same name saved by another edit or a new swarm a moment ago
            raise FieldsError(
                "Name taken.", fields={"name": [f"You already have a swarm named {locked.name!r}."]}
            ) from None
        if members is not None:
            locked.members.all().delete()
            SwarmMember.objects.bulk_create(_members(locked, agents))
    for field in [f.attname for f in Swarm._meta.concrete_fields]:
        setattr(swarm, field, getattr(locked, field))
    return swarm
