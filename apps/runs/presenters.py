"""Plain-dict views of runs, steps, messages and human requests.

These dicts are the payload of run events, so the websocket can render a
live update from the event alone; the run page renders the same templates
from the same dicts, so a reload shows exactly what streamed.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

from .models import HumanRequest, Message, Run, Step


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def money(value: Decimal) -> str:
    """Dollars without trailing zeros: 0, 0.0012, 100."""
    return format(value.normalize(), "f")


def run_data(run: Run) -> dict[str, Any]:
    return {
        "run_id": run.pk,
        "status": run.status,
        "status_label": run.get_status_display(),
        "active": run.is_active,
        "result": run.result,
        "error": run.error,
        "steps_started": run.steps_started,
        "cost": money(run.cost),
        "tokens": run.tokens,
        "finished_at": _iso(run.finished_at),
    }


def spend_data(run: Run) -> dict[str, Any]:
    """The run's running totals, carried by step events so counters update live."""
    return {"steps_started": run.steps_started, "cost": money(run.cost), "tokens": run.tokens}


def step_data(step: Step, run: Run | None = None) -> dict[str, Any]:
    data = {
        "step_id": step.pk,
        "key": step.key,
        "index": step.index,
        "agent": step.agent_name,
        "status": step.status,
        "outcome": step.outcome,
        "input": step.input[:2000],
        "output": step.output[:4000],
        "error": step.error,
        "cost": money(step.cost),
        "tokens": step.prompt_tokens + step.completion_tokens,
        "latency_ms": step.latency_ms,
        "attempts": step.attempts,
        "tool_calls": list((step.data or {}).get("tool_calls", [])),
    }
    if run is not None:
        data["spend"] = spend_data(run)
    return data


def message_data(message: Message, room_name: str) -> dict[str, Any]:
    return {
        "message_id": message.pk,
        "room": room_name,
        "sender": message.sender,
        "is_human": message.is_human,
        "content": message.content,
        "step_id": message.step_id,
        "created_at": _iso(message.created_at),
    }


def human_request_data(request: HumanRequest) -> dict[str, Any]:
    return {
        "request_id": request.pk,
        "key": request.key,
        "prompt": request.prompt,
        "fields": request.fields,
        "status": request.status,
        "answer": request.answer,
        "answered_by": request.answered_by.get_username() if request.answered_by_id and request.answered_by else None,
    }


# ---- the swarm drawn on the run page ------------------------------------------------------------

# Strategies whose members speak in turns (drawn as a ring) or run one after another (a chain).
_IN_TURNS = ("chat_room", "board")
_IN_ORDER = ("sequential",)


def _members_in(value: Any, members: set[str]) -> list[str]:
    """Every member named anywhere in a config value (a string, a list, or nested objects), in order."""
    found: list[str] = []
    if isinstance(value, str):
        if value in members:
            found.append(value)
    elif isinstance(value, dict):
        for item in value.values():
            found.extend(_members_in(item, members))
    elif isinstance(value, list | tuple):
        for item in value:
            found.extend(_members_in(item, members))
    return found


def _catalogue_roles(strategy: str) -> tuple[dict[str, Any], ...]:
    from apps.engine.errors import UnknownStrategyError
    from apps.engine.strategies.registry import strategy_info

    try:
        return strategy_info(strategy).roles
    except UnknownStrategyError:  # a run of a strategy since removed: its members, without roles
        return ()


def _at(config: dict[str, Any], key: str) -> Any:
    """The value at a dotted config key (``"judge.agent"``), or None."""
    value: Any = config
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def member_roles(strategy: str, config: dict[str, Any], members: list[str]) -> dict[str, list[str]]:
    """Each member's roles, read from the config keys the strategy's catalogue entry names
    (``{"role": "director", "key": "director"}``): what the canvas labels a member with."""
    names = set(members)
    out: dict[str, list[str]] = {m: [] for m in members}
    for role in _catalogue_roles(strategy):
        for member in dict.fromkeys(_members_in(_at(config or {}, role["key"]), names)):
            if role["role"] not in out[member]:
                out[member].append(role["role"])
    return out


def run_drawing(run: Run) -> dict[str, Any]:
    """The swarm as the run page draws it: members (roles, the position saved with the swarm's
    drawing when there is one) and the edges between them: a chain for a pipeline, a ring for
    members speaking in turns, else from each one-member role (a director, a generator) to the rest."""
    members = run.member_names()
    config = run.strategy_config or {}
    roles = member_roles(run.strategy, config, members)
    single = {r["role"] for r in _catalogue_roles(run.strategy) if not r.get("many")}
    layout = getattr(run.swarm, "layout", None) if run.swarm_id else None
    positions = (layout.get("members") or {}) if isinstance(layout, dict) else {}
    hubs = [m for m in members if set(roles[m]) & single]
    edges: list[list[str]] = []
    if run.strategy in _IN_ORDER:
        order = list(dict.fromkeys(_members_in(config.get("stages"), set(members)))) or members
        edges = [[a, b] for a, b in itertools.pairwise(order)]
    elif run.strategy in _IN_TURNS and len(members) > 1:
        edges = [[a, b] for a, b in zip(members, members[1:] + members[:1], strict=False)]
    elif hubs:
        edges = [[hub, m] for hub in hubs for m in members if m not in hubs]
    return {
        "strategy": run.strategy,
        "members": [{"name": m, "roles": roles[m], "position": _position(positions.get(m))} for m in members],
        "edges": edges,
    }


def workflow_positions(run: Run) -> dict[str, dict[str, float]]:
    """HEIST node positions saved with the swarm's drawing (``layout["nodes"]``), for the live graph."""
    layout = getattr(run.swarm, "layout", None) if run.swarm_id else None
    nodes = (layout.get("nodes") or {}) if isinstance(layout, dict) else {}
    return {name: pos for name, value in nodes.items() if (pos := _position(value)) is not None}


def _position(value: Any) -> dict[str, float] | None:
    if isinstance(value, dict) and isinstance(value.get("x"), int | float) and isinstance(value.get("y"), int | float):
        return {"x": float(value["x"]), "y": float(value["y"])}
    return None


def member_activity(run: Run) -> list[dict[str, Any]]:
    """Per member: steps run, messages posted, cost and tokens, and whether it is acting now. The
    browser keeps the same counts live from the steps and messages the websocket adds to the page,
    counted by the same rules (see static/js/run_canvas.js), so a reload shows what streamed."""
    members = run.member_names()
    roles = member_roles(run.strategy, run.strategy_config or {}, members)
    rows = {
        m: {"name": m, "roles": roles[m], "steps": 0, "messages": 0, "cost": Decimal(0), "tokens": 0, "acting": False}
        for m in members
    }
    for agent, status, cost, prompt, completion in run.steps.values_list(
        "agent_name", "status", "cost", "prompt_tokens", "completion_tokens"
    ):
        row = rows.get(agent)
        if row is None:
            continue
        row["steps"] += 1
        row["cost"] += cost
        row["tokens"] += prompt + completion
        row["acting"] = row["acting"] or status == "running"
    for sender in run.messages.values_list("sender", flat=True):
        if sender in rows:
            rows[sender]["messages"] += 1
    return [{**row, "cost": money(row["cost"])} for row in rows.values()]
