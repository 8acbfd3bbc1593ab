"""Import and export swarm definitions (YAML files or folders) as agents and a swarm.

Validation happens entirely in the engine before anything is written; the
writes then run in one transaction, through the governance services, so an
import is audited like any other placement of agents and a failed import
writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from django.conf import settings
from django.db import transaction

from apps.agents import catalogue
from apps.agents.models import Agent
from apps.agents.services import create_agent
from apps.engine.definitions import (
    MAIN_FILE,
    AgentDefinition,
    DefinitionError,
    Problem,
    SwarmDefinition,
    dump_definition,
    parse_definition,
    resolved,
)

from .models import Swarm
from .services import create_swarm

MAX_FILES = 200
MAX_BYTES = 2_000_000


def known_tools(owner=None) -> set[str]:
    """Tools an agent of ``owner`` may list and be granted (``tool.<name>``): the catalogue's."""
    return set(catalogue.known_tools(owner))


def read_folder(folder: Path) -> dict[str, str]:
    """A definition folder as ``{relative path: text}`` (or a single YAML file as swarm.yaml)."""
    if folder.is_file():
        return {MAIN_FILE: folder.read_text()}
    files = {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}
    return files


def check_definition(owner, files: Mapping[str, str]) -> SwarmDefinition:
    """Validate for ``owner``; raise ``DefinitionError`` listing every problem."""
    if len(files) > MAX_FILES or sum(len(t) for t in files.values()) > MAX_BYTES:
        raise DefinitionError([Problem("upload", f"Too large: at most {MAX_FILES} files and {MAX_BYTES} bytes.")])
    existing = set(Agent.objects.filter(owner=owner).values_list("name", flat=True))
    definition = parse_definition(
        files, known_tools=known_tools(owner), existing_agent_names=existing, max_depth=settings.SWARMWEB["MAX_DEPTH"]
    )
    if Swarm.objects.filter(owner=owner, name=definition.name).exists():
        raise DefinitionError([Problem(f"{MAIN_FILE}: name", f"You already have a swarm named {definition.name!r}.")])
    return definition


def import_definition(owner, files: Mapping[str, str]) -> Swarm:
    """Create the definition's agents (parents first) and its swarm, all or nothing."""
    definition = check_definition(owner, files)
    with transaction.atomic():
        agents: dict[str, Agent] = {}
        for spec in resolved(definition):
            agent = create_agent(
                owner=owner,
                name=spec.name,
                provider=spec.provider,
                config=spec.config,
                instructions=spec.instructions,
                description=spec.description,
                parent=agents.get(spec.parent) if spec.parent else None,
                level=spec.level,
                privileges=list(spec.privileges),
            )
            agent.tools, agent.rooms = list(spec.tools), list(spec.rooms)
            agent.save(update_fields=["tools", "rooms"])
            agents[spec.name] = agent
        for spec in definition.agents:
            agents[spec.name].talks_to.set([agents[name] for name in spec.talks_to])
        return create_swarm(
            owner=owner,
            name=definition.name,
            description=definition.description,
            strategy=definition.strategy,
            strategy_config=definition.strategy_config,
            members=[agents[name] for name in definition.members],
            max_steps=definition.max_steps,
            max_seconds=definition.max_seconds,
            layout=definition.layout,
        )


def export_definition(swarm: Swarm) -> str:
    """The swarm as one YAML file that imports back: its members, their ancestors
    (so levels and privileges have their creators) and their active descendants."""
    rows = list(swarm.members.select_related("agent", "child_swarm"))
    if any(m.child_swarm_id for m in rows):
        nested = ", ".join(m.name for m in rows if m.child_swarm_id)
        raise DefinitionError([Problem("members", f"Swarms with swarm members ({nested}) cannot be exported yet.")])
    members = [m.agent for m in rows]
    included: dict[int, Agent] = {}
    for agent in members:
        current: Agent | None = agent
        while current is not None and current.pk not in included:
            included[current.pk] = current
            current = current.parent
    frontier = list(included)
    while frontier:
        children = Agent.objects.filter(parent_id__in=frontier, status="active").exclude(pk__in=included)
        frontier = []
        for child in children:
            included[child.pk] = child
            frontier.append(child.pk)
    ordered = sorted(included.values(), key=lambda a: (a.level, a.name))
    names = {a.pk for a in ordered}
    definition = SwarmDefinition(
        name=swarm.name,
        description=swarm.description,
        strategy=swarm.strategy,
        strategy_config=swarm.strategy_config,
        members=tuple(a.name for a in members),
        max_steps=swarm.max_steps,
        max_seconds=swarm.max_seconds,
        layout=swarm.layout,
        agents=tuple(
            AgentDefinition(
                name=a.name,
                provider=a.provider,
                config=a.config,
                level=a.level,
                parent=a.parent.name if a.parent_id in names else None,
                description=a.description,
                instructions=a.instructions,
                tools=tuple(a.tools),
                talks_to=tuple(t.name for t in a.talks_to.all() if t.pk in names),
                rooms=tuple(a.rooms),
                privileges=tuple(sorted(a.privileges)),
            )
            for a in ordered
        ),
    )
    return dump_definition(definition)
