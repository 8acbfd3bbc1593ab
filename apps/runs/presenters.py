"""Plain-dict views of runs, steps, messages and human requests.

These dicts are the payload of run events, so the websocket can render a
live update from the event alone; the run page renders the same templates
from the same dicts, so a reload shows exactly what streamed.
"""

from __future__ import annotations

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
