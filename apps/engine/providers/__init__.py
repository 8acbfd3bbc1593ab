"""Providers produce agents' replies: built-in skills, scripted replies, OpenAI-compatible models."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import UnknownProviderError
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


def get_provider(kind: str) -> Provider:
    try:
        return PROVIDERS[ProviderKind(kind)]
    except ValueError:
        raise UnknownProviderError(
            f"Unknown provider {kind!r}. Available: {', '.join(PROVIDERS)}.",
            fields={"provider": ["Unknown provider."]},
        ) from None


def validate_agent_config(kind: str, config: Mapping[str, Any]) -> None:
    """Raise ``AgentConfigError`` (field messages) if ``config`` is not valid for provider ``kind``."""
    get_provider(kind).parse_config(config)


__all__ = [
    "PROVIDERS",
    "SKILL_DESCRIPTIONS",
    "Provider",
    "Reply",
    "SkillName",
    "TokenSink",
    "get_provider",
    "validate_agent_config",
]
