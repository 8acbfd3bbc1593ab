"""Providers produce agents' replies: built-in skills, scripted replies, OpenAI-compatible models."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import UnknownProviderError
from ..governance import model_privilege, tool_privilege
from ..values import ProviderKind
from .base import Provider, Reply, TokenSink
from .openai_compat import OpenAICompatibleProvider
from .scripted import ScriptedProvider
from .skills import SKILL_DESCRIPTIONS, SkillName, SkillProvider

PROVIDERS: dict[ProviderKind, Provider] = {
    ProviderKind.SKILL: SkillProvider(),
    ProviderKind.SCRIPTED: ScriptedProvider(),
    ProviderKind.OPENAI: OpenAICompatibleProvider(),
}


@dataclass(frozen=True)
class ProviderInfo:
    """What the designer and the API show about a provider: its names and the JSON Schema of
    an agent's config (the schema its ``parse_config`` validates with)."""

    name: str
    label: str
    description: str
    config_schema: dict[str, Any]


def provider_info(kind: str) -> ProviderInfo:
    """The catalogue entry of provider ``kind``; raises ``UnknownProviderError``."""
    provider = get_provider(kind)
    schema = provider.config_schema
    return ProviderInfo(
        name=str(ProviderKind(kind)), label=schema["title"], description=schema["description"], config_schema=schema
    )


def provider_catalogue() -> list[ProviderInfo]:
    """Every provider's catalogue entry, in ``ProviderKind`` order."""
    return [provider_info(kind) for kind in ProviderKind]


def get_provider(kind: str) -> Provider:
    try:
        return PROVIDERS[ProviderKind(kind)]
    except ValueError:
        raise UnknownProviderError(
            f"Unknown provider {kind!r}. Available: {', '.join(PROVIDERS)}.",
            fields={"provider": ["Unknown provider."]},
        ) from None


def required_privileges(kind: str, config: Mapping[str, Any]) -> frozenset[str]:
    """Privileges an agent needs to act with this provider and config.

    A model-backed agent needs ``model.<model>``; a skill needs ``tool.<skill>``;
    scripted replies need nothing.
    """
    if kind == ProviderKind.OPENAI and config.get("model"):
        return frozenset({model_privilege(str(config["model"]))})
    if kind == ProviderKind.SKILL and config.get("skill"):
        return frozenset({tool_privilege(str(config["skill"]))})
    return frozenset()


def validate_agent_config(kind: str, config: Mapping[str, Any]) -> None:
    """Raise ``AgentConfigError`` (field messages) if ``config`` is not valid for provider ``kind``."""
    get_provider(kind).parse_config(config)


__all__ = [
    "PROVIDERS",
    "SKILL_DESCRIPTIONS",
    "Provider",
    "ProviderInfo",
    "Reply",
    "SkillName",
    "TokenSink",
    "get_provider",
    "provider_catalogue",
    "provider_info",
    "required_privileges",
    "validate_agent_config",
]
