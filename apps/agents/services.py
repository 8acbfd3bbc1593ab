"""Agent services: the only code that creates or changes agents."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.core.errors import FieldsError
from apps.engine.errors import EngineError, ErrorCode
from apps.engine.providers import required_privileges, validate_agent_config

from .models import NAME_VALIDATOR, Agent


def check_agent(*, owner, name: str, provider: str, config: dict[str, Any], instance: Agent | None = None) -> None:
    """Raise ``FieldsError`` if the agent definition is not valid (all problems at once)."""
    errors: dict[str, list[str]] = {}
    try:
        NAME_VALIDATOR(name)
    except ValidationError as exc:
        errors["name"] = list(exc.messages)
    clash = Agent.objects.filter(owner=owner, name=name)
    if instance is not None:
        clash = clash.exclude(pk=instance.pk)
    if clash.exists():
        errors.setdefault("name", []).append(f"You already have an agent named {name!r}.")
    if not isinstance(config, dict):
        errors["config"] = ["Must be a JSON object."]
    else:
        try:
            validate_agent_config(provider, config)
        except EngineError as exc:
            target = "provider" if exc.code == ErrorCode.UNKNOWN_PROVIDER else "config"
            for key, messages in (exc.fields or {target: [exc.message]}).items():
                errors.setdefault(key if key == "provider" else f"config.{key}", []).extend(messages)
    if errors:
        raise FieldsError("The agent is not valid.", fields=errors, code=ErrorCode.INVALID_AGENT_CONFIG)


def create_agent(
    *,
    owner,
    name: str,
    provider: str,
    config: dict[str, Any],
    instructions: str = "",
    description: str = "",
    parent: Agent | None = None,
    level: int | None = None,
    privileges: list[str] | None = None,
    memory_top_k: int = 0,
    memory_scope: str = "swarm",
    tools: list[str] | None = None,
    rooms: list[str] | None = None,
    talks_to: list[Agent] | None = None,
) -> Agent:
    """A person creates an agent (a root, or a child of one of their agents): governed and audited."""
    from .governance import Acting, spawn_agent

    _check_memory(memory_top_k, memory_scope)  # before anything is written
    _check_links(owner, tools or [], rooms or [], talks_to or [], instance=None)
    agent = spawn_agent(
        Acting(user=owner),
        owner=owner,
        name=name,
        provider=provider,
        config=config,
        parent=parent,
        level=level,
        privileges=privileges,
        instructions=instructions,
        description=description,
    )
    if memory_top_k or memory_scope != "swarm":
        agent.memory_top_k, agent.memory_scope = memory_top_k, memory_scope
        agent.save(update_fields=["memory_top_k", "memory_scope"])
    if tools or rooms:
        agent.tools, agent.rooms = list(tools or []), list(rooms or [])
        agent.save(update_fields=["tools", "rooms"])
    if talks_to:
        agent.talks_to.set(talks_to)
    return agent


MAX_MEMORY_TOP_K = 20


def _check_memory(top_k: int, scope: str) -> None:
    errors = {}
    if not 0 <= top_k <= MAX_MEMORY_TOP_K:
        errors["memory_top_k"] = [f"Between 0 (off) and {MAX_MEMORY_TOP_K}."]
    if scope not in ("swarm", "agent", "both"):
        errors["memory_scope"] = ["One of swarm, agent, both."]
    if errors:
        raise FieldsError("Invalid memory settings.", fields=errors)


ROOM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")


def _check_links(owner, tools: list[str], rooms: list[str], talks_to: list[Agent], *, instance: Agent | None) -> None:
    """Tools are names (which ones exist is the tool registry's business, a layer up); rooms are
    names; talks-to targets are other agents of the same owner."""
    errors: dict[str, list[str]] = {}
    if not all(isinstance(t, str) and t for t in tools):
        errors["tools"] = ["A list of tool names."]
    bad_rooms = [r for r in rooms if not isinstance(r, str) or not ROOM_NAME.match(r)]
    if bad_rooms:
        errors["rooms"] = [f"Not a room name: {bad_rooms[0]!r} (letters, digits, '.', '-', '_')."]
    for target in talks_to:
        if target.owner_id != owner.pk:
            errors.setdefault("talks_to", []).append(f"{target.name} is not one of your agents.")
        elif instance is not None and target.pk == instance.pk:
            errors.setdefault("talks_to", []).append("An agent does not message itself.")
    if errors:
        raise FieldsError("Invalid tools, rooms or talks-to.", fields=errors)


def update_agent(agent: Agent, *, acting_user=None, **changes: Any) -> Agent:
    """Change an agent's definition. If its new provider settings need a privilege
    it lacks (a new model, say), the person acting grants it first, under the
    usual rules; a refused grant changes nothing but the audit log."""
    from .governance import Acting, grant_privilege

    editable = (
        "name",
        "provider",
        "config",
        "instructions",
        "description",
        "memory_top_k",
        "memory_scope",
        "tools",
        "rooms",
    )
    fields = {k: changes[k] for k in editable if k in changes}
    talks_to = changes.get("talks_to")
    _check_memory(fields.get("memory_top_k", agent.memory_top_k), fields.get("memory_scope", agent.memory_scope))
    _check_links(agent.owner, fields.get("tools", []), fields.get("rooms", []), list(talks_to or []), instance=agent)
    provider = fields.get("provider", agent.provider)
    config = fields.get("config", agent.config)
    check_agent(
        owner=agent.owner, name=fields.get("name", agent.name), provider=provider, config=config, instance=agent
    )
    for privilege in sorted(required_privileges(provider, config) - set(agent.privileges)):
        grant_privilege(Acting(user=acting_user or agent.owner), agent, privilege)
        agent.refresh_from_db(fields=["privileges"])
    with transaction.atomic():
        for field, value in fields.items():
            setattr(agent, field, value)
        agent.save(update_fields=[*fields, "updated_at"])
        if talks_to is not None:
            agent.talks_to.set(talks_to)
    return agent
