"""Which tools and privileges exist: the one list behind the admin, YAML imports and the dashboard.

A privilege is one of the engine's base privileges (``spawn``, ``memory.write``, ...),
``tool.<name>`` for a tool an agent can be offered or a skill its provider runs, or
``model.<name>`` for a model. Tools live a layer up (``apps.tools``: the built-ins and the
tools agents made); that app registers a source of tool names here when it starts
(``register_tool_source``), so this layer lists them without importing it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from apps.engine.governance import catalog
from apps.engine.providers import SKILL_DESCRIPTIONS, SkillName

from .models import Agent

ToolSource = Callable[[Any], Mapping[str, str]]
"""``owner`` (or None: every owner) -> ``{tool name: description}`` of the tools their agents can be offered."""

_SOURCES: list[ToolSource] = []


def register_tool_source(source: ToolSource) -> None:
    """Add a source of tool names (called once per source, from an ``AppConfig.ready``)."""
    if source not in _SOURCES:
        _SOURCES.append(source)


def known_tools(owner: Any = None) -> dict[str, str]:
    """Every tool ``owner``'s agents may list or be granted (``None``: any owner's): the skills
    skill agents run, and every registered source's tools. Name -> description, sorted."""
    tools = {skill.value: SKILL_DESCRIPTIONS[skill] for skill in SkillName}
    for source in _SOURCES:
        for name, description in source(owner).items():
            tools.setdefault(name, description)
    return dict(sorted(tools.items()))


def privilege_catalogue(owner: Any = None) -> dict[str, str]:
    """Every privilege worth offering ``owner`` (``None``: anyone): the base set, ``tool.<name>``
    for every known tool, ``model.<name>`` for every model their agents use, and whatever their
    agents already hold. Privilege -> description, sorted."""
    agents = Agent.objects.all() if owner is None else Agent.objects.filter(owner=owner)
    models = {
        str(config["model"])
        for config in agents.filter(provider="openai").values_list("config", flat=True)
        if isinstance(config, dict) and config.get("model")
    }
    entries = catalog(tools=known_tools(owner), models=models)
    for privileges in agents.values_list("privileges", flat=True):
        for privilege in privileges:
            entries.setdefault(privilege, privilege)
    return dict(sorted(entries.items()))
