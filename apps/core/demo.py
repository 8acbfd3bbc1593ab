"""Demo agents and swarms, seeded by ``manage.py seed_demo``; each finishes offline in seconds."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.agents.models import Agent
from apps.swarms.models import Swarm, SwarmMember

DEMO_AGENTS: list[dict[str, Any]] = [
    {
        "name": "calculator",
        "provider": "skill",
        "description": "Evaluates the arithmetic in the task.",
        "config": {"skill": "calculator"},
    },
    {
        "name": "python-runner",
        "provider": "skill",
        "description": "Runs Python in a sandbox.",
        "config": {"skill": "python", "timeout_s": 5},
    },
    {
        "name": "reporter",
        "provider": "skill",
        "description": "Writes the final report from a template.",
        "config": {"skill": "echo", "template": "Report for: {{ task }}\n{{ input }}"},
    },
    {
        "name": "ada",
        "provider": "scripted",
        "description": "Product manager (scripted).",
        "config": {
            "delay_ms": 400,
            "replies": [
                "Let's scope it: {{ input }} The first version needs a single clear use case.",
                "Agreed. I'll write it up: offline first, one-command install, live dashboard.",
            ],
        },
    },
    {
        "name": "linus",
        "provider": "scripted",
        "description": "Engineer (scripted).",
        "config": {
            "delay_ms": 400,
            "replies": [
                "From the engineering side: a Django app with Celery workers keeps it simple to run.",
                "I can have a prototype by Friday if we skip single sign-on for now.",
            ],
        },
    },
    {
        "name": "grace",
        "provider": "scripted",
        "description": "Critic (scripted); closes the discussion.",
        "config": {
            "delay_ms": 400,
            "replies": [
                "Risk check: who operates it? We need budgets and an audit trail from day one.",
                {"content": "Decision: build the offline-first prototype with budgets. Meeting closed.", "done": True},
            ],
        },
    },
    {
        "name": "drafter",
        "provider": "scripted",
        "description": "Drafts an itinerary (scripted).",
        "config": {
            "delay_ms": 300,
            "replies": [
                "Draft plan for '{{ input }}':\nDay 1: arrive, old town walk.\nDay 2: museum and river cruise.\n"
                "Day 3: day trip to the coast."
            ],
        },
    },
    {
        "name": "parrot",
        "provider": "skill",
        "description": "Repeats the task back (right for 'repeat the word ...' tasks, wrong for sums).",
        "config": {"skill": "echo", "template": "{{ task }}"},
    },
    {
        "name": "scout",
        "provider": "scripted",
        "description": "Writes what it finds to the swarm's shared memory (scripted tool calls).",
        "privileges": ["memory.write"],
        "config": {
            "replies": [
                {
                    "content": "Noted: {{ tool_results | map(attribute='content') | join(' ') }}",
                    "tool_calls": [
                        {
                            "tool": "memory_write",
                            "arguments": {"text": "The bridge on route 9 is closed until May.", "tags": ["roads"]},
                        },
                        {
                            "tool": "memory_write",
                            "arguments": {"text": "The depot opens at 6 am on weekdays.", "tags": ["depot"]},
                        },
                    ],
                }
            ],
            "cycle": True,
        },
    },
    {
        "name": "dispatcher",
        "provider": "scripted",
        "description": "Plans from the shared memory: searches it by meaning (scripted tool call).",
        "privileges": ["tool.memory_search"],
        "config": {
            "replies": [
                {
                    "content": "Plan, from memory:\n{{ tool_results[0].content }}",
                    "tool_calls": [{"tool": "memory_search", "arguments": {"query": "{{ task }}", "k": 2}}],
                }
            ],
            "cycle": True,
        },
    },
    {
        "name": "finalizer",
        "provider": "skill",
        "description": "Applies the reviewer's decision to the draft.",
        "config": {"skill": "echo", "template": "FINAL PLAN\n{{ input }}"},
    },
    {
        "name": "researcher",
        "provider": "scripted",
        "description": "Surveys the market (scripted).",
        "config": {
            "delay_ms": 900,
            "replies": ["Market: three hosted competitors, none self-hosted; teams ask for audit trails."],
            "cycle": True,
        },
    },
    {
        "name": "pricer",
        "provider": "scripted",
        "description": "Proposes pricing (scripted).",
        "config": {
            "delay_ms": 1200,
            "replies": ["Pricing: a free self-hosted edition; paid support and hosting."],
            "cycle": True,
        },
    },
    {
        "name": "legal-db",
        "provider": "scripted",
        "description": "Checks licences against a legal database that is down: every call fails (scripted).",
        "config": {"delay_ms": 500, "replies": [{"error": "The legal database timed out."}], "cycle": True},
    },
    {
        "name": "paralegal",
        "provider": "scripted",
        "description": "Checks licences by hand when the database fails (scripted).",
        "config": {
            "delay_ms": 700,
            "replies": ["Licences: Apache-2.0, BSD and MIT dependencies only; no blockers."],
            "cycle": True,
        },
    },
]

DEMO_SWARMS: list[dict[str, Any]] = [
    {
        "name": "Number cruncher",
        "description": "A sequential pipeline of built-in skills: calculate, square it in Python, report.",
        "strategy": "sequential",
        "members": ["calculator", "python-runner", "reporter"],
        "strategy_config": {
            "stages": [
                {"name": "calculate", "agent": "calculator", "input": "{{ task }}"},
                {
                    "name": "square",
                    "agent": "python-runner",
                    "input": "x = {{ previous }}\nprint(f'{x} squared is {x * x}')",
                },
                {
                    "name": "report",
                    "agent": "reporter",
                    "input": "The value is {{ outputs.calculate }}; {{ outputs.square }}.",
                },
            ]
        },
        "example_task": "What is (17 + 25) * 3?",
    },
    {
        "name": "Product meeting",
        "description": "A scripted chat room: three agents discuss the task in turns until the critic closes it.",
        "strategy": "chat_room",
        "members": ["ada", "linus", "grace"],
        "strategy_config": {"max_turns": 9},
        "example_task": "Should we build a self-hosted agent platform?",
    },
    {
        "name": "Trip planner with approval",
        "description": "Drafts a plan, asks a person to approve or revise it, then finalises.",
        "strategy": "sequential",
        "members": ["drafter", "finalizer"],
        "strategy_config": {
            "stages": [
                {"name": "draft", "agent": "drafter", "input": "{{ task }}"},
                {
                    "name": "review",
                    "ask_human": {
                        "prompt": "Please review the draft:\n{{ outputs.draft }}",
                        "fields": [
                            {"name": "decision", "kind": "choice", "choices": ["approve", "revise"]},
                            {"name": "notes", "kind": "textarea", "required": False, "label": "Notes for the planner"},
                        ],
                    },
                },
                {
                    "name": "finalize",
                    "agent": "finalizer",
                    "input": "{{ outputs.draft }}\nDecision: {{ answers.review.decision }}"
                    "{% if answers.review.notes %}\nNotes: {{ answers.review.notes }}{% endif %}",
                },
            ]
        },
        "example_task": "Three days in Lisbon",
    },
    {
        "name": "Router team",
        "description": "A calculator and a parrot: each right on one kind of task. On the Training page, train a "
        "routing policy for this swarm on the 'Arithmetic or repeat' dataset, then run it with the puppeteer "
        "strategy.",
        "strategy": "sequential",
        "members": ["calculator", "parrot"],
        "strategy_config": {},
        "example_task": "What is 12 + 30?",
    },
    {
        "name": "Memory desk",
        "description": "A scout writes notes to the swarm's vector memory; a dispatcher finds them by meaning. "
        "Browse them on the Memory page.",
        "strategy": "sequential",
        "members": ["scout", "dispatcher"],
        "strategy_config": {},
        "example_task": "Can the trucks cross the river tomorrow?",
    },
    {
        "name": "Launch checklist",
        "description": "A HEIST workflow: market and pricing research run in parallel while the licence check "
        "fails on its database, is retried, then falls back to a paralegal; the report waits for all three. "
        "Watch the graph change colour on the run page.",
        "strategy": "heist",
        "members": ["researcher", "pricer", "legal-db", "paralegal", "reporter"],
        "strategy_config": {
            "nodes": [
                {"name": "market", "agent": "researcher"},
                {"name": "pricing", "agent": "pricer"},
                {
                    "name": "licences",
                    "agent": "legal-db",
                    "fallbacks": ["paralegal"],
                    "retry": {"attempts": 1, "backoff_s": 0.5},
                },
                {
                    "name": "report",
                    "agent": "reporter",
                    "depends_on": ["market", "pricing", "licences"],
                    "input": "{{ outputs.market }}\n{{ outputs.pricing }}\n{{ outputs.licences }}",
                },
            ]
        },
        "example_task": "Launch a self-hosted agent platform",
    },
]


def demo_dataset_jsonl(n: int = 30) -> str:
    """Arithmetic (only the calculator solves it) and repetition (only the parrot does), interleaved."""
    import json

    words = ["amber", "basalt", "cedar", "delta", "ember", "fjord", "garnet", "harbor", "indigo", "juniper"]
    rows = []
    for i in range(n):
        a, b = 7 + 3 * i, 40 - i
        rows.append({"task": f"What is {a} + {b}?", "expected": a + b, "checker": "numeric", "family": "sum"})
        word = f"{words[i % len(words)]}{i}"
        rows.append({"task": f"Repeat the word {word}", "expected": word, "checker": "contains", "family": "repeat"})
    return "\n".join(json.dumps(row) for row in rows)


def seed_demo(owner) -> list[Swarm]:
    """Create or refresh the demo agents and swarms for ``owner``. Idempotent.

    Agents go through the agent services, so they are governed and audited
    like any other (each holds what its own provider needs).
    """
    from apps.agents.services import create_agent, update_agent

    agents: dict[str, Agent] = {}
    for spec in DEMO_AGENTS:
        fields = {"provider": spec["provider"], "config": spec["config"], "description": spec["description"]}
        existing = Agent.objects.filter(owner=owner, name=spec["name"]).first()
        if existing is None:
            extra = {"privileges": spec["privileges"]} if "privileges" in spec else {}
            agents[spec["name"]] = create_agent(owner=owner, name=spec["name"], **fields, **extra)
        else:
            agents[spec["name"]] = update_agent(existing, **fields)
    swarms = _seed_swarms(owner, agents)
    _seed_dataset(owner)
    return swarms


def _seed_dataset(owner) -> None:
    from apps.learning.models import TrainingDataset
    from apps.learning.services import create_dataset

    if not TrainingDataset.objects.filter(owner=owner, name="Arithmetic or repeat").exists():
        create_dataset(owner=owner, name="Arithmetic or repeat", jsonl=demo_dataset_jsonl(), test_fraction=0.25)


@transaction.atomic
def _seed_swarms(owner, agents: dict[str, Agent]) -> list[Swarm]:
    from apps.swarms.services import check_strategy

    swarms = []
    for spec in DEMO_SWARMS:
        check_strategy(spec["strategy"], spec["strategy_config"], spec["members"])
        swarm, _ = Swarm.objects.update_or_create(
            owner=owner,
            name=spec["name"],
            defaults={
                "description": spec["description"] + f" Try: \u201c{spec['example_task']}\u201d",
                "strategy": spec["strategy"],
                "strategy_config": spec["strategy_config"],
            },
        )
        swarm.members.all().delete()
        SwarmMember.objects.bulk_create(
            SwarmMember(swarm=swarm, agent=agents[name], position=i) for i, name in enumerate(spec["members"])
        )
        swarms.append(swarm)
    return swarms
