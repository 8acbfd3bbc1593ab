"""Ready-made swarm patterns: each creates its agents and its swarm in one step, ready to adapt.

A pattern is a recipe, not a template file: ``blueprint(name)`` builds the
agents and the swarm with every agent name passed through ``name`` (which adds
the person's prefix), so the strategy config and the scripted replies that
name other agents (a director's orders) stay consistent. Every agent uses an
offline provider (built-in skills, scripted replies), so every pattern runs to
a finish without an API key; the person swaps in model-backed agents later.

``create_from_pattern`` checks every name up front (a clash is reported with
the names that clash) and writes through the agent and swarm services inside
one transaction, so a failure leaves nothing behind.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.agents.models import NAME_VALIDATOR, Agent
from apps.agents.services import create_agent
from apps.core.errors import FieldsError

from .models import Swarm
from .services import create_swarm

Namer = Callable[[str], str]

# Scripted agents charge a little per call so a run shows cost per member, as a model-backed one would.
SCRIPTED_COST = {"cost_per_call": "0.001", "tokens_per_call": 24}


@dataclass(frozen=True)
class AgentRecipe:
    """One agent of a pattern; ``parent`` is another recipe's full name (created before it)."""

    name: str
    provider: str
    config: dict[str, Any]
    description: str
    level: int | None = None
    parent: str | None = None
    privileges: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Blueprint:
    agents: tuple[AgentRecipe, ...]
    members: tuple[str, ...]
    strategy_config: dict[str, Any]


@dataclass(frozen=True)
class Diagram:
    """A small picture of the pattern: labelled boxes at (x, y) in a 200 x 100 box, arrows between them."""

    nodes: tuple[tuple[str, float, float], ...]
    edges: tuple[tuple[int, int], ...] = ()

    def boxes(self) -> list[dict[str, Any]]:
        return [
            {"label": label, "x": x, "y": y, "left": x - 24, "top": y - 9, "baseline": y + 4}
            for label, x, y in self.nodes
        ]

    def layout(self, blueprint: Blueprint, name: Namer) -> dict[str, Any]:
        """The picture as the swarm's drawing (``Swarm.layout``), so the designer and the run page
        open with it: member positions when the picture shows every member, HEIST node positions
        when it shows every node. Three times the picture's scale."""
        at = {label: {"x": x * 3.0, "y": y * 3.0} for label, x, y in self.nodes}
        by_member = {name(label): pos for label, pos in at.items()}
        layout: dict[str, Any] = {}
        if all(m in by_member for m in blueprint.members):
            layout["members"] = {m: by_member[m] for m in blueprint.members}
        nodes = [n["name"] for n in blueprint.strategy_config.get("nodes", [])]
        if nodes and all(n in at for n in nodes):
            layout["nodes"] = {n: at[n] for n in nodes}
        return layout

    def lines(self) -> list[dict[str, float]]:
        out = []
        for a, b in self.edges:
            (_, x1, y1), (_, x2, y2) = self.nodes[a], self.nodes[b]
            out.append({"x1": x1, "y1": y1, "x2": x2, "y2": y2})
        return out


@dataclass(frozen=True)
class Pattern:
    key: str
    title: str
    summary: str
    strategy: str
    prefix: str  # the default agent-name prefix
    example_task: str
    diagram: Diagram
    blueprint: Callable[[Namer], Blueprint]
    # Shown on the card under "Needs a training run first.": what to do before it does what its title says.
    needs_training: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)

    def agent_names(self, prefix: str) -> list[str]:
        return [a.name for a in self.blueprint(namer(prefix)).agents]


def namer(prefix: str) -> Namer:
    return lambda role: f"{prefix}-{role}"


def _scripted(replies: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {**SCRIPTED_COST, **extra}
    if replies is not None:
        config["replies"] = replies
    return config


# ---- the patterns ---------------------------------------------------------------------------


def _haas_board(n: Namer) -> Blueprint:
    chair, ethicist, strategist = n("chair"), n("ethicist"), n("strategist")
    agents = (
        AgentRecipe(
            chair,
            "scripted",
            _scripted(
                [
                    "The board is in session on: {{ task }}. Ethicist, strategist: your views.",
                    {
                        "content": "Resolved: proceed, with the ethicist's guard-rails. The session is closed.",
                        "done": True,
                    },
                ]
            ),
            "Chairs the Supreme Oversight Board (level 0).",
            level=0,
            privileges=("spawn", "terminate", "broadcast"),
        ),
        AgentRecipe(
            ethicist,
            "scripted",
            _scripted(["Any plan must keep a person in the loop for irreversible actions."], cycle=True),
            "Board archetype who guards values and safety.",
            level=0,
        ),
        AgentRecipe(
            strategist,
            "scripted",
            _scripted(["Start with one measurable outcome and a budget."], cycle=True),
            "Board archetype who weighs long-term strategy.",
            level=0,
        ),
        AgentRecipe(
            n("cto"),
            "scripted",
            _scripted(["Engineering can deliver a prototype in two weeks."], cycle=True),
            "Executive for technology, reporting to the chair.",
            parent=chair,
            privileges=("spawn",),
        ),
        AgentRecipe(
            n("coo"),
            "scripted",
            _scripted(["Operations will run it on one machine with backups."], cycle=True),
            "Executive for operations, reporting to the chair.",
            parent=chair,
            privileges=("spawn",),
        ),
    )
    return Blueprint(agents, (chair, ethicist, strategist), {"max_turns": 6})


def _boss_worker(n: Namer) -> Blueprint:
    boss, calc, scribe = n("boss"), n("calc"), n("scribe")
    # Replies are templates: tojson keeps the JSON valid whatever the task says.
    orders = json.dumps({"orders": [{"agent": calc, "task": "TASK"}, {"agent": scribe, "task": "TASK"}]})
    orders = orders.replace('"TASK"', "{{ task | tojson }}")
    answer = (
        '{"answer": {{ ("The team has worked on: " ~ task ~ ". The calculator and the scribe reported.") | tojson }}}'
    )
    agents = (
        AgentRecipe(
            boss,
            "scripted",
            _scripted([orders, answer]),
            "Director: hands out orders as JSON, then answers (scripted).",
        ),
        AgentRecipe(calc, "skill", {"skill": "calculator"}, "Worker: evaluates the arithmetic in its order."),
        AgentRecipe(scribe, "skill", {"skill": "echo", "template": "Notes on: {{ input }}"}, "Worker: writes notes."),
    )
    config = {"director": boss, "workers": [calc, scribe], "max_loops": 3, "retry": {"attempts": 1, "backoff_s": 0.2}}
    return Blueprint(agents, (boss, calc, scribe), config)


def _heist_pipeline(n: Namer) -> Blueprint:
    planner, fetcher, mirror, parser, writer = n("planner"), n("fetcher"), n("mirror"), n("parser"), n("writer")
    agents = (
        AgentRecipe(
            planner,
            "scripted",
            _scripted(['{"nodes": []}'], cycle=True),
            "Replans the rest of the workflow when a node fails for good (scripted).",
        ),
        AgentRecipe(
            fetcher,
            "scripted",
            _scripted([{"error": "The primary source timed out."}], cycle=True),
            "Fetches from a primary source that is down: every call fails (scripted).",
        ),
        AgentRecipe(
            mirror,
            "scripted",
            _scripted(["Mirror copy of the sources for: {{ task }}"], cycle=True),
            "Fallback: fetches from a mirror (scripted).",
        ),
        AgentRecipe(parser, "skill", {"skill": "echo", "template": "Parsed: {{ input }}"}, "Parses what was fetched."),
        AgentRecipe(writer, "skill", {"skill": "echo", "template": "Report: {{ input }}"}, "Writes the report."),
    )
    config = {
        "planner": planner,
        "nodes": [
            {"name": "fetch", "agent": fetcher, "fallbacks": [mirror], "retry": {"attempts": 1, "backoff_s": 0.2}},
            {"name": "parse", "agent": parser, "depends_on": ["fetch"], "input": "{{ outputs.fetch }}"},
            {"name": "report", "agent": writer, "depends_on": ["parse"], "input": "{{ outputs.parse }}"},
        ],
    }
    return Blueprint(agents, (planner, fetcher, mirror, parser, writer), config)


def _orc_arena(n: Namer) -> Blueprint:
    sage, calc, guesser = n("sage"), n("calc"), n("guesser")
    agents = (
        AgentRecipe(sage, "scripted", _scripted(default="42"), "Answers 42 to everything (scripted)."),
        AgentRecipe(calc, "skill", {"skill": "calculator"}, "Evaluates arithmetic."),
        AgentRecipe(guesser, "scripted", _scripted(default="41"), "Guesses, one off (scripted)."),
    )
    config = {
        "domains": {"math": {"description": "arithmetic and numbers", "agents": [sage, calc, guesser]}},
        "tasks": [{"task": "6 * 7", "expected": "42"}, {"task": "40 + 2", "expected": "42"}],
        "judge": {"kind": "rule", "mode": "numeric"},
        "challenge": {"pick": "round_robin"},
    }
    return Blueprint(agents, (sage, calc, guesser), config)


def _sao_curriculum(n: Namer) -> Blueprint:
    calc, guesser = n("calc"), n("guesser")
    agents = (
        AgentRecipe(calc, "skill", {"skill": "calculator"}, "Climbs the arithmetic levels."),
        AgentRecipe(guesser, "scripted", _scripted(default="7"), "Always answers 7 (scripted): stays down."),
    )
    return Blueprint(agents, (calc, guesser), {"seed": 3, "max_attempts": 4, "time_limit_s": 30})


def _hive_vote(n: Namer) -> Blueprint:
    vote_first = {"match": "^VOTE", "reply": "1"}
    names = (n("ann"), n("ben"), n("cat"))
    agents = (
        AgentRecipe(names[0], "scripted", _scripted(rules=[vote_first], default="Ship on Friday."), "Proposes, votes."),
        AgentRecipe(names[1], "scripted", _scripted(rules=[vote_first], default="Ship on Friday."), "Proposes, votes."),
        AgentRecipe(
            names[2],
            "scripted",
            _scripted(rules=[{"match": "^VOTE", "reply": "2"}], default="Ship next month."),
            "Proposes something else, votes for it.",
        ),
    )
    return Blueprint(agents, names, {"threshold": 0.6, "max_rounds": 2})


def _forge_critics(n: Namer) -> Blueprint:
    coder, tester, reviewer = n("coder"), n("tester"), n("reviewer")
    code = "def add(a, b):\n    return a + b"
    agents = (
        AgentRecipe(
            coder,
            "scripted",
            _scripted([code, code + "\n\nassert add(2, 3) == 5"]),
            "Generator: drafts, then revises with the critiques (scripted).",
        ),
        AgentRecipe(
            tester,
            "skill",
            {"skill": "judge", "mode": "contains", "expected": "assert"},
            "Critic: accepts a draft that has a test.",
        ),
        AgentRecipe(
            reviewer,
            "scripted",
            _scripted(
                rules=[{"match": "assert add", "reply": '{"score": 0.9, "critique": "Tested, good."}'}],
                default='{"score": 0.4, "critique": "Add a test."}',
            ),
            "Critic: scores the draft as JSON (scripted).",
        ),
    )
    config = {
        "generator": coder,
        "critics": [{"agent": tester, "input": "{{ draft }}"}, {"agent": reviewer, "threshold": 0.8}],
        "max_iterations": 4,
    }
    return Blueprint(agents, (coder, tester, reviewer), config)


def _learned_router(n: Namer) -> Blueprint:
    calc, parrot = n("calc"), n("parrot")
    agents = (
        AgentRecipe(calc, "skill", {"skill": "calculator"}, "Right on arithmetic tasks."),
        AgentRecipe(parrot, "skill", {"skill": "echo", "template": "{{ task }}"}, "Right on 'repeat the word' tasks."),
    )
    return Blueprint(agents, (calc, parrot), {})


PATTERNS: tuple[Pattern, ...] = (
    Pattern(
        key="haas-board",
        title="HAAS board with executives",
        summary="Level-0 board members deliberate in turns; executives sit under the chair in the hierarchy.",
        strategy="board",
        prefix="board",
        example_task="Should we open-source the platform?",
        diagram=Diagram(
            nodes=(
                ("chair", 100, 18),
                ("ethicist", 40, 18),
                ("strategist", 160, 18),
                ("cto", 70, 80),
                ("coo", 130, 80),
            ),
            edges=((1, 0), (0, 2), (0, 3), (0, 4)),
        ),
        blueprint=_haas_board,
    ),
    Pattern(
        key="boss-worker",
        title="Boss-worker team",
        summary="A director hands out orders to workers in parallel, then answers with their results.",
        strategy="boss_worker",
        prefix="team",
        example_task="What is (12 + 30) * 2?",
        diagram=Diagram(nodes=(("boss", 100, 18), ("calc", 55, 80), ("scribe", 145, 80)), edges=((0, 1), (0, 2))),
        blueprint=_boss_worker,
    ),
    Pattern(
        key="heist-pipeline",
        title="HEIST pipeline with fallbacks and a planner",
        summary="fetch, parse, report: the fetch fails, is retried, then falls back to a mirror; a planner stands by.",
        strategy="heist",
        prefix="heist",
        example_task="Summarise this week's release notes",
        diagram=Diagram(
            nodes=(
                ("fetch", 30, 30),
                ("mirror", 30, 80),
                ("parse", 100, 30),
                ("report", 170, 30),
                ("planner", 135, 80),
            ),
            edges=((0, 2), (1, 2), (2, 3)),
        ),
        blueprint=_heist_pipeline,
    ),
    Pattern(
        key="orc-arena",
        title="ORC arena",
        summary="The domain's leader answers; challengers contest; a judge decides and Elo ratings are kept.",
        strategy="orc",
        prefix="orc",
        example_task="math drills",
        diagram=Diagram(
            nodes=(("leader", 100, 18), ("calc", 40, 80), ("judge", 100, 80), ("guesser", 160, 80)),
            edges=((1, 2), (0, 2), (3, 2)),
        ),
        blueprint=_orc_arena,
    ),
    Pattern(
        key="sao-curriculum",
        title="SAO curriculum",
        summary="Agents climb four judged arithmetic levels for rewards; a failure sends them back.",
        strategy="sao",
        prefix="sao",
        example_task="arithmetic drills",
        diagram=Diagram(
            nodes=(("L1", 30, 85), ("L2", 80, 65), ("L3", 130, 45), ("L4", 175, 20)),
            edges=((0, 1), (1, 2), (2, 3)),
        ),
        blueprint=_sao_curriculum,
    ),
    Pattern(
        key="hive-vote",
        title="HIVE vote",
        summary="Three agents propose, see each other's proposals and vote; 60% of the votes decide.",
        strategy="hive",
        prefix="hive",
        example_task="When do we ship?",
        diagram=Diagram(nodes=(("ann", 100, 18), ("ben", 45, 80), ("cat", 155, 80)), edges=((0, 1), (1, 2), (2, 0))),
        blueprint=_hive_vote,
    ),
    Pattern(
        key="forge-critics",
        title="FORGE critics",
        summary="A generator drafts code; a tester and a reviewer score it; it revises until both accept.",
        strategy="forge",
        prefix="forge",
        example_task="Write an add function",
        diagram=Diagram(nodes=(("coder", 40, 50), ("tester", 160, 20), ("reviewer", 160, 80)), edges=((0, 1), (0, 2))),
        blueprint=_forge_critics,
    ),
    Pattern(
        key="learned-router",
        title="Learned router",
        summary="A calculator and a parrot, each right on one kind of task, for a trained policy to route between.",
        strategy="sequential",
        prefix="router",
        example_task="What is 12 + 30?",
        diagram=Diagram(nodes=(("policy", 40, 50), ("calc", 160, 20), ("parrot", 160, 80)), edges=((0, 1), (0, 2))),
        blueprint=_learned_router,
        needs_training=(
            "It starts as a pipeline that runs both agents. On the Training page, "
            "train a routing policy on this swarm (a JSONL dataset of arithmetic and 'repeat the word' tasks), "
            "then switch its strategy to Puppeteer and pick the training run."
        ),
    ),
)

_BY_KEY = {p.key: p for p in PATTERNS}


def pattern(key: str) -> Pattern:
    try:
        return _BY_KEY[key]
    except KeyError:
        raise FieldsError("Unknown pattern.", fields={"pattern": [f"No pattern named {key!r}."]}) from None


def suggested_names(owner, p: Pattern) -> tuple[str, str]:
    """A swarm name and an agent prefix that clash with nothing ``owner`` has: the pattern's own, or
    numbered (``team2``, "Boss-worker team 2") when those are taken."""
    agents = set(Agent.objects.filter(owner=owner).values_list("name", flat=True))
    swarms = set(Swarm.objects.filter(owner=owner).values_list("name", flat=True))
    for i in range(1, 1000):
        suffix = "" if i == 1 else str(i)
        name, prefix = f"{p.title}{' ' + suffix if suffix else ''}", f"{p.prefix}{suffix}"
        if name not in swarms and not agents.intersection(p.agent_names(prefix)):
            return name, prefix
    return p.title, p.prefix  # a thousand copies: let the check explain the clash


def check_pattern_names(owner, p: Pattern, *, name: str, prefix: str) -> Blueprint:
    """Raise ``FieldsError`` (fields ``name`` and ``prefix``) if the swarm or any agent would clash."""
    errors: dict[str, list[str]] = {}
    if not name.strip():
        errors["name"] = ["Give the swarm a name."]
    elif Swarm.objects.filter(owner=owner, name=name).exists():
        errors["name"] = [f"You already have a swarm named {name!r}: choose another name."]
    blueprint: Blueprint | None = None
    try:
        NAME_VALIDATOR(f"{prefix}-x")
    except ValidationError:
        errors["prefix"] = ["Start with a letter; use letters, digits, '-' and '_' only."]
    else:
        blueprint = p.blueprint(namer(prefix))
        too_long = [a.name for a in blueprint.agents if len(a.name) > 80]
        taken = sorted(
            Agent.objects.filter(owner=owner, name__in=[a.name for a in blueprint.agents]).values_list(
                "name", flat=True
            )
        )
        if too_long:
            errors["prefix"] = ["Too long: agent names have at most 80 characters."]
        elif taken:
            errors["prefix"] = [
                f"You already have agents named {', '.join(taken)}: choose another prefix (e.g. {prefix}2)."
            ]
    if errors or blueprint is None:
        raise FieldsError("The names clash with what you have.", fields=errors)
    return blueprint


def create_from_pattern(*, owner, key: str, name: str, prefix: str) -> Swarm:
    """Create pattern ``key``'s agents (parents first) and its swarm for ``owner``, all or nothing."""
    p = pattern(key)
    name, prefix = name.strip(), prefix.strip()
    blueprint = check_pattern_names(owner, p, name=name, prefix=prefix)
    with transaction.atomic():
        created: dict[str, Agent] = {}
        for recipe in blueprint.agents:
            created[recipe.name] = create_agent(
                owner=owner,
                name=recipe.name,
                provider=recipe.provider,
                config=recipe.config,
                description=recipe.description,
                parent=created[recipe.parent] if recipe.parent else None,
                level=recipe.level,
                privileges=list(recipe.privileges) if recipe.privileges is not None else None,
            )
        description = f"{p.summary} From the {p.title!r} pattern. Try: \u201c{p.example_task}\u201d"
        if p.needs_training:
            description += f" Needs a training run first: {p.needs_training}"
        return create_swarm(
            owner=owner,
            name=name,
            description=description,
            strategy=p.strategy,
            strategy_config=json.loads(json.dumps(blueprint.strategy_config)),  # a fresh copy per swarm
            members=[created[m] for m in blueprint.members],
            layout=p.diagram.layout(blueprint, namer(prefix)),
        )
