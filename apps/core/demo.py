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
        "name": "finalizer",
        "provider": "skill",
        "description": "Applies the reviewer's decision to the draft.",
        "config": {"skill": "echo", "template": "FINAL PLAN\n{{ input }}"},
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
]


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
            agents[spec["name"]] = create_agent(owner=owner, name=spec["name"], **fields)
        else:
            agents[spec["name"]] = update_agent(existing, **fields)
    return _seed_swarms(owner, agents)


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
