"""Swarm definitions in YAML: parsed and validated before anything is written.

A definition is one file (``swarm.yaml``) or a folder: ``swarm.yaml`` plus
``agents/*.yaml`` (one agent each) and instruction templates referenced by
``instructions_file``. ``parse_definition`` checks everything it can without
a model call (unknown tools, parents and talk-to targets, duplicate names,
missing or broken templates, provider configs, level skips, privilege
escalation, the strategy config) and reports every problem at once, each
with the file, line and key that caused it.

Format::

    name: Boss and workers
    strategy: sequential            # or chat_room, ...
    strategy_config: {...}
    members: [boss, calc]           # default: every agent, in order
    layout:                         # optional: where the designer drew members and HEIST nodes
      members: {boss: {x: 120.0, y: 80.0}}
      nodes: {fetch: {x: 40.0, y: 200.0}}
    agents:
      - name: boss
        level: 1                    # 0 = the board; default: one below the parent
        parent: null
        provider: scripted          # skill | scripted | openai
        model: gpt-4o-mini          # shorthand for config.model (openai)
        config: {...}
        instructions: "You are {{ name }}, level {{ level }}."
        instructions_file: prompts/boss.md.j2   # instead of instructions
        tools: [calculator]
        talks_to: [calc]
        rooms: [ops]
        privileges: [spawn, terminate, tool.calculator]   # default: what provider and tools need
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from . import templating
from .errors import EngineError, ErrorCode
from .governance import Actor, GovernanceError, Hierarchy, is_well_formed, tool_privilege
from .providers import required_privileges, validate_agent_config
from .schema import schema_errors
from .strategies import build_strategy

MAIN_FILE = "swarm.yaml"
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,79}$")
SWARM_KEYS = {
    "name",
    "description",
    "strategy",
    "strategy_config",
    "members",
    "agents",
    "max_steps",
    "max_seconds",
    "layout",
}
AGENT_KEYS = {
    "name",
    "description",
    "level",
    "parent",
    "provider",
    "model",
    "config",
    "instructions",
    "instructions_file",
    "tools",
    "talks_to",
    "rooms",
    "privileges",
}


_POINT = {
    "type": "object",
    "title": "Position",
    "description": "Where it is drawn, in canvas coordinates.",
    "properties": {
        "x": {"type": "number", "title": "x", "description": "Horizontal position."},
        "y": {"type": "number", "title": "y", "description": "Vertical position."},
    },
    "required": ["x", "y"],
    "additionalProperties": False,
}
MAX_LAYOUT_ENTRIES = 2000

LAYOUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "title": "Layout",
    "description": "Where the designer drew the swarm: positions of members (by member name) and of HEIST "
    "nodes (by node name). Presentation only: runs never read it.",
    "properties": {
        "members": {
            "type": "object",
            "title": "Members",
            "description": "Member name -> position.",
            "additionalProperties": _POINT,
            "maxProperties": MAX_LAYOUT_ENTRIES,
        },
        "nodes": {
            "type": "object",
            "title": "Workflow nodes",
            "description": "HEIST node name -> position.",
            "additionalProperties": _POINT,
            "maxProperties": MAX_LAYOUT_ENTRIES,
        },
    },
    "additionalProperties": False,
}


def layout_errors(layout: Any) -> dict[str, list[str]]:
    """Problems with a swarm's drawn layout, by field path (``members.writer.x``); ``""`` if it
    is not a mapping at all. Empty if it is valid."""
    if not isinstance(layout, Mapping):
        return {"": ["Must be a mapping."]}
    return schema_errors(LAYOUT_SCHEMA, layout)


@dataclass(frozen=True)
class Problem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class DefinitionError(EngineError):
    """The definition is invalid; ``problems`` lists every problem with its location."""

    code = ErrorCode.INVALID

    def __init__(self, problems: list[Problem]) -> None:
        fields: dict[str, list[str]] = {}
        for problem in problems:
            fields.setdefault(problem.where, []).append(problem.message)
        super().__init__(f"The definition has {len(problems)} problem(s).", fields=fields)
        self.problems = problems


@dataclass(frozen=True)
class AgentDefinition:
    name: str
    provider: str
    config: dict[str, Any]
    level: int
    parent: str | None = None
    description: str = ""
    instructions: str = ""
    tools: tuple[str, ...] = ()
    talks_to: tuple[str, ...] = ()
    rooms: tuple[str, ...] = ()
    privileges: tuple[str, ...] = ()


@dataclass(frozen=True)
class SwarmDefinition:
    name: str
    strategy: str
    agents: tuple[AgentDefinition, ...]
    members: tuple[str, ...]
    strategy_config: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    max_steps: int | None = None
    max_seconds: int | None = None
    layout: dict[str, Any] = field(default_factory=dict)


# ---- YAML with line numbers ------------------------------------------------------


def _line_map(node: yaml.Node, path: tuple, lines: dict[tuple, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            lines[(*path, key.value)] = key.start_mark.line + 1
            _line_map(value, (*path, key.value), lines)
            lines[(*path, key.value)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_map(item, (*path, i), lines)


class _Source:
    """One YAML file: its data, and the line of every key and item."""

    def __init__(self, filename: str, text: str, problems: list[Problem]) -> None:
        self.filename = filename
        self.lines: dict[tuple, int] = {}
        self.data: Any = None
        try:
            self.data = yaml.safe_load(text)
            node = yaml.compose(text)
            if node is not None:
                _line_map(node, (), self.lines)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 1}" if mark else ""
            problems.append(Problem(f"{filename}{line}", f"Not valid YAML: {getattr(exc, 'problem', exc)}"))

    def where(self, *path) -> str:
        for cut in range(len(path), -1, -1):
            if path[:cut] in self.lines:
                line = self.lines[path[:cut]]
                break
        else:
            line = 1
        dotted = ""
        for part in path:
            dotted += f"[{part}]" if isinstance(part, int) else (f".{part}" if dotted else str(part))
        return f"{self.filename}:{line} {dotted}".rstrip()


# ---- parsing --------------------------------------------------------------------------


def parse_definition(
    files: Mapping[str, str],
    *,
    known_tools: set[str],
    existing_agent_names: set[str] = frozenset(),
    max_depth: int = 4,
) -> SwarmDefinition:
    """Validate a definition given as ``{relative path: text}``; raise ``DefinitionError`` listing every problem."""
    problems: list[Problem] = []
    if MAIN_FILE not in files:
        raise DefinitionError([Problem(MAIN_FILE, "Missing: a definition needs a swarm.yaml.")])
    main = _Source(MAIN_FILE, files[MAIN_FILE], problems)
    if problems:
        raise DefinitionError(problems)
    if not isinstance(main.data, Mapping):
        raise DefinitionError([Problem(main.where(), "The top level must be a mapping (name, strategy, agents, ...).")])
    top = main.data
    for key in sorted(set(top) - SWARM_KEYS):
        problems.append(Problem(main.where(key), f"Unknown key. Allowed: {', '.join(sorted(SWARM_KEYS))}."))
    name = _text(top, "name", main, problems, required=True)
    strategy = _text(top, "strategy", main, problems, required=True)

    raw_agents: list[tuple[_Source, tuple, Any]] = []
    agents_value = top.get("agents", [])
    if not isinstance(agents_value, list):
        problems.append(Problem(main.where("agents"), "Must be a list of agents."))
        agents_value = []
    raw_agents += [(main, ("agents", i), a) for i, a in enumerate(agents_value)]
    for path in sorted(p for p in files if p.startswith("agents/") and p.endswith((".yaml", ".yml"))):
        source = _Source(path, files[path], problems)
        raw_agents.append((source, (), source.data))

    parsed = [(_parse_agent(src, path, raw, files, known_tools, problems), src, path) for src, path, raw in raw_agents]
    located = [(agent, src, path) for agent, src, path in parsed if agent is not None]
    by_name: dict[str, tuple[AgentDefinition, _Source, tuple]] = {}
    for agent, source, path in located:
        if agent.name in by_name:
            problems.append(Problem(source.where(*path, "name"), f"Duplicate agent name {agent.name!r}."))
        elif agent.name in existing_agent_names:
            problems.append(Problem(source.where(*path, "name"), f"You already have an agent named {agent.name!r}."))
        by_name.setdefault(agent.name, (agent, source, path))
    if not located and not problems:
        problems.append(Problem(main.where("agents"), "A swarm needs at least one agent."))

    for agent, source, path in located:
        if agent.parent is not None and agent.parent not in by_name:
            problems.append(Problem(source.where(*path, "parent"), f"Unknown parent {agent.parent!r}."))
        for target in agent.talks_to:
            if target not in by_name:
                problems.append(Problem(source.where(*path, "talks_to"), f"Unknown agent {target!r} in talks_to."))
    problems += _check_hierarchy(by_name, max_depth)

    members = top.get("members", [a.name for a, _s, _p in located])
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        problems.append(Problem(main.where("members"), "Must be a list of agent names."))
        members = []
    for i, member in enumerate(members):
        if member not in by_name:
            problems.append(Problem(main.where("members", i), f"Unknown agent {member!r}."))
    strategy_config = top.get("strategy_config") or {}
    if not isinstance(strategy_config, Mapping):
        problems.append(Problem(main.where("strategy_config"), "Must be a mapping."))
    elif strategy and members:
        try:
            build_strategy(strategy, strategy_config, members)
        except EngineError as exc:
            for key, messages in (exc.fields or {"": [exc.message]}).items():
                where = (
                    main.where("strategy_config", *key.split("."))
                    if key not in ("", "strategy")
                    else main.where("strategy")
                )
                problems += [Problem(where, m) for m in messages]
    layout = top.get("layout") or {}
    for key, messages in layout_errors(layout).items():
        where = main.where("layout", *_path_parts(key))
        problems += [Problem(where, message) for message in messages]
    budgets = {k: top.get(k) for k in ("max_steps", "max_seconds")}
    for key, value in budgets.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            problems.append(Problem(main.where(key), "Must be a whole number of at least 1."))
    if problems:
        raise DefinitionError(problems)
    ordered = _parents_first([a for a, _s, _p in located])
    return SwarmDefinition(
        name=name,
        strategy=strategy,
        agents=tuple(ordered),
        members=tuple(members),
        strategy_config=dict(strategy_config),
        description=str(top.get("description") or ""),
        max_steps=budgets["max_steps"],
        max_seconds=budgets["max_seconds"],
        layout=dict(layout),
    )


def _path_parts(path: str) -> list[str]:
    """``"members.writer.x"`` -> ``["members", "writer", "x"]`` (layout paths have no list indexes)."""
    return [part for part in path.split(".") if part]


def _text(data: Mapping, key: str, source: _Source, problems: list[Problem], *, required: bool = False) -> str:
    value = data.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.append(Problem(source.where(key), "This field is required."))
        return ""
    if not isinstance(value, str):
        problems.append(Problem(source.where(key), "Must be text."))
        return ""
    return value


def _names(raw: Mapping, key: str, source: _Source, path: tuple, problems: list[Problem]) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(Problem(source.where(*path, key), "Must be a list of names."))
        return ()
    return tuple(value)


def _parse_agent(source, path, raw, files, known_tools, problems) -> AgentDefinition | None:
    if not isinstance(raw, Mapping):
        problems.append(Problem(source.where(*path), "An agent must be a mapping with at least name and provider."))
        return None
    for key in sorted(set(raw) - AGENT_KEYS):
        problems.append(Problem(source.where(*path, key), f"Unknown key. Allowed: {', '.join(sorted(AGENT_KEYS))}."))
    name = raw.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        problems.append(Problem(source.where(*path, "name"), "A name starts with a letter; letters, digits, - and _."))
        return None
    provider = raw.get("provider")
    config = dict(raw.get("config") or {}) if isinstance(raw.get("config") or {}, Mapping) else None
    if config is None:
        problems.append(Problem(source.where(*path, "config"), "Must be a mapping."))
        config = {}
    if raw.get("model") is not None:
        if provider != "openai":
            problems.append(Problem(source.where(*path, "model"), "'model' applies to provider openai only."))
        config.setdefault("model", raw["model"])
    if not isinstance(provider, str):
        problems.append(Problem(source.where(*path, "provider"), "Required: skill, scripted or openai."))
    else:
        try:
            validate_agent_config(provider, config)
        except EngineError as exc:
            for key, messages in (exc.fields or {"provider": [exc.message]}).items():
                where = source.where(*path, "provider") if key == "provider" else source.where(*path, "config", key)
                problems += [Problem(where, m) for m in messages]
    tools = _names(raw, "tools", source, path, problems)
    for tool in tools:
        if tool not in known_tools:
            problems.append(
                Problem(
                    source.where(*path, "tools"), f"Unknown tool {tool!r}. Known: {', '.join(sorted(known_tools))}."
                )
            )
    instructions = raw.get("instructions", "")
    if "instructions_file" in raw:
        template_path = str(raw["instructions_file"])
        if "instructions" in raw:
            problems.append(
                Problem(source.where(*path, "instructions_file"), "Give instructions or instructions_file, not both.")
            )
        elif template_path not in files:
            problems.append(Problem(source.where(*path, "instructions_file"), f"Missing template {template_path!r}."))
        else:
            instructions = files[template_path]
    if not isinstance(instructions, str):
        problems.append(Problem(source.where(*path, "instructions"), "Must be text."))
        instructions = ""
    level = raw.get("level")
    if level is not None and (isinstance(level, bool) or not isinstance(level, int) or level < 0):
        problems.append(Problem(source.where(*path, "level"), "Must be a whole number (0 = the board)."))
        level = None
    privileges = raw.get("privileges")
    if privileges is not None:
        if not isinstance(privileges, list) or not all(isinstance(p, str) for p in privileges):
            problems.append(Problem(source.where(*path, "privileges"), "Must be a list of privilege names."))
            privileges = []
        for privilege in privileges:
            kind, _, tool = privilege.partition(".")
            if not is_well_formed(privilege) or (kind == "tool" and tool not in known_tools):
                problems.append(Problem(source.where(*path, "privileges"), f"Unknown privilege {privilege!r}."))
    needed = set(required_privileges(provider, config)) if isinstance(provider, str) else set()
    needed |= {tool_privilege(t) for t in tools}
    if privileges is None:
        privileges = sorted(needed)
    else:
        for missing in sorted(needed - set(privileges)):
            problems.append(
                Problem(source.where(*path, "privileges"), f"Missing {missing!r}, which its model or tools need.")
            )
    parent = raw.get("parent")
    if parent is not None and not isinstance(parent, str):
        problems.append(Problem(source.where(*path, "parent"), "Must be an agent name."))
        parent = None
    agent = AgentDefinition(
        name=name,
        provider=provider if isinstance(provider, str) else "",
        config=config,
        level=level if level is not None else -1,  # resolved from the parent in _check_hierarchy
        parent=parent,
        description=str(raw.get("description") or ""),
        instructions=instructions,
        tools=tools,
        talks_to=_names(raw, "talks_to", source, path, problems),
        rooms=_names(raw, "rooms", source, path, problems),
        privileges=tuple(sorted(set(privileges))),
    )
    _check_instructions(agent, source, path, problems)
    return agent


def _check_instructions(agent: AgentDefinition, source: _Source, path: tuple, problems: list[Problem]) -> None:
    fields = {
        "name": agent.name,
        "description": agent.description,
        "level": max(agent.level, 0),
        "parent": agent.parent,
        "privileges": list(agent.privileges),
        "tools": list(agent.tools),
        "rooms": list(agent.rooms),
        "talks_to": list(agent.talks_to),
    }
    try:
        templating.render(agent.instructions, fields)
    except EngineError as exc:
        problems.append(Problem(source.where(*path, "instructions"), exc.message))


def _parents_first(agents: list[AgentDefinition]) -> list[AgentDefinition]:
    by_name = {a.name: a for a in agents}
    ordered: list[AgentDefinition] = []
    placed: set[str] = set()

    def place(agent: AgentDefinition, seen: tuple[str, ...]) -> None:
        if agent.name in placed or agent.name in seen:
            return
        if agent.parent in by_name:
            place(by_name[agent.parent], (*seen, agent.name))
        ordered.append(agent)
        placed.add(agent.name)

    for agent in agents:
        place(agent, ())
    return ordered


def _check_hierarchy(by_name, max_depth: int) -> list[Problem]:
    """Place every agent in a simulated hierarchy, as a person would, and collect rule violations."""
    problems: list[Problem] = []
    hierarchy = Hierarchy(max_depth=max_depth)
    ids = {name: i + 1 for i, name in enumerate(by_name)}
    person = Actor(superuser=True, label="import")
    resolved_levels: dict[str, int] = {}
    visiting: set[str] = set()
    failed: set[str] = set()

    def place(name: str) -> bool:
        agent, source, path = by_name[name]
        if ids[name] in hierarchy.nodes:
            return True
        if name in failed:
            return False  # already reported; its descendants cannot be placed either
        if name in visiting:
            problems.append(Problem(source.where(*path, "parent"), f"Parent cycle through {name!r}."))
            failed.add(name)
            return False
        visiting.add(name)
        try:
            parent = agent.parent if agent.parent in by_name else None
            if parent is not None and not place(parent):
                failed.add(name)
                return False
            level = agent.level if agent.level >= 0 else (resolved_levels[parent] + 1 if parent else 1)
            try:
                hierarchy.spawn(
                    person, ids[name], parent=ids[parent] if parent else None, level=level, privileges=agent.privileges
                )
            except GovernanceError as exc:
                key = "privileges" if exc.privilege else "level"
                problems.append(Problem(source.where(*path, key), f"{exc.message} ({exc.rule.value})"))
                failed.add(name)
                return False
            resolved_levels[name] = level
            return True
        finally:
            visiting.discard(name)

    for name in by_name:
        if by_name[name][0].parent is None or by_name[name][0].parent in by_name:
            place(name)
    return problems


def resolved(definition: SwarmDefinition) -> list[AgentDefinition]:
    """Agents parents-first with every level filled in."""
    levels: dict[str, int] = {}
    result = []
    for agent in definition.agents:
        level = agent.level if agent.level >= 0 else (levels[agent.parent] + 1 if agent.parent else 1)
        levels[agent.name] = level
        result.append(AgentDefinition(**{**agent.__dict__, "level": level}))
    return result


def dump_definition(definition: SwarmDefinition) -> str:
    """The single-file YAML form of a definition (what export writes)."""
    data: dict[str, Any] = {"name": definition.name}
    if definition.description:
        data["description"] = definition.description
    data["strategy"] = definition.strategy
    if definition.strategy_config:
        data["strategy_config"] = definition.strategy_config
    for key in ("max_steps", "max_seconds"):
        if getattr(definition, key) is not None:
            data[key] = getattr(definition, key)
    data["members"] = list(definition.members)
    if definition.layout:
        data["layout"] = definition.layout
    data["agents"] = []
    for agent in resolved(definition):
        entry: dict[str, Any] = {"name": agent.name, "level": agent.level}
        if agent.parent:
            entry["parent"] = agent.parent
        entry["provider"] = agent.provider
        entry["config"] = agent.config
        for key in ("description", "instructions"):
            if getattr(agent, key):
                entry[key] = getattr(agent, key)
        for key in ("tools", "talks_to", "rooms", "privileges"):
            if getattr(agent, key):
                entry[key] = list(getattr(agent, key))
        data["agents"].append(entry)
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


class _Dumper(yaml.SafeDumper):
    """Safe YAML, with multi-line text (instructions, templates) as readable ``|`` blocks."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_text)
