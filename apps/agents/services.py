"""Agent services: the only code that creates or changes agents."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.core.errors import FieldsError
from apps.engine.errors import EngineError, ErrorCode
from apps.engine.providers import validate_agent_config

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


@transaction.atomic
def create_agent(
    *, owner, name: str, provider: str, config: dict[str, Any], instructions: str = "", description: str = ""
) -> Agent:
    check_agent(owner=owner, name=name, provider=provider, config=config)
    return Agent.objects.create(
        owner=owner, name=name, provider=provider, config=config, instructions=instructions, description=description
    )


@transaction.atomic
def update_agent(agent: Agent, **changes: Any) -> Agent:
    for field in ("name", "provider", "config", "instructions", "description"):
        if field in changes:
            setattr(agent, field, changes[field])
    check_agent(owner=agent.owner, name=agent.name, provider=agent.provider, config=agent.config, instance=agent)
    agent.save()
    return agent
