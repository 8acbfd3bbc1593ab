"""Hierarchical boss-worker (the HAAS director): orders out, results back, loop, synthesise.

The director replies with JSON, validated against ``REPLY_SCHEMA``::

    {"orders": [{"agent": "calc", "task": "6 * 7"}, ...]}   # work to hand out
    {"answer": "..."}                                        # done: the run's result

Orders run in parallel. An order naming an unknown or unavailable worker is
rejected back to the director (like a tool error) in its next brief. A
failing worker is retried with backoff; after that it is marked unavailable
and the director is asked to reassign its order. If no healthy worker
remains, the run finishes with partial results and the list of failed
orders. A malformed director reply is sent back with the validation error;
after ``max_invalid`` in a row the run finishes with what it has.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import jsonschema

from ..config import ConfigReader
from ..errors import StrategyConfigError, StrategyError
from ..values import StepOutcome
from . import schema_parts as sp
from .base import Fact, Finish, MembersChanged, PostMessage, RunStep, StepFinished, Transition

REPLY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "oneOf": [
        {
            "required": ["orders"],
            "properties": {
                "orders": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 50,
                    "items": {
                        "type": "object",
                        "required": ["agent", "task"],
                        "properties": {"agent": {"type": "string"}, "task": {"type": "string", "minLength": 1}},
                        "additionalProperties": False,
                    },
                }
            },
        },
        {"required": ["answer"], "properties": {"answer": {"type": "string"}}},
    ],
}


@dataclass
class BossState:
    task: str
    loop: int = 0
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> agent, task, status, attempt, output, error
    unavailable: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # told to the director in its next brief
    invalid_replies: int = 0
    director_key: str = ""

    def dump(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "loop": self.loop,
            "orders": self.orders,
            "unavailable": self.unavailable,
            "rejected": self.rejected,
            "invalid_replies": self.invalid_replies,
            "director_key": self.director_key,
        }


class BossWorkerStrategy:
    """Config keys: ``director``, ``workers`` (default: every other member), ``max_loops``,
    ``retry`` ({attempts, backoff_s}), ``max_invalid``, ``room``."""

    name: ClassVar[str] = "boss_worker"
    config_only: ClassVar[bool] = True  # built from its config and members alone (see registry)
    roles: ClassVar[tuple[dict[str, Any], ...]] = (
        {"role": "director", "key": "director", "many": False, "description": "Gives the orders and synthesises."},
        {"role": "workers", "key": "workers", "many": True, "description": "Carry out the orders, in parallel."},
    )
    config_schema: ClassVar[dict[str, Any]] = sp.config(
        {
            "director": sp.member(
                "Director", "Hands out orders and writes the answer (default: the first member).", role="director"
            )
            | {"pattern": sp.NOT_BLANK},
            "workers": sp.members(
                "Workers",
                "The members the director may give orders to (default: every member but the director).",
                role="workers",
                error="Give at least one worker (a member other than the director).",
            ),
            "max_loops": sp.integer(
                "Rounds",
                "How many rounds of orders the director gets before it must answer.",
                default=5,
                minimum=1,
                maximum=50,
            ),
            "max_invalid": sp.integer(
                "Unreadable replies",
                "How many replies the director may get wrong (not the JSON asked for) before the run fails.",
                default=2,
                minimum=1,
                maximum=10,
            ),
            "retry": {
                "title": "Retry",
                "description": "How a failing worker's order is retried before the worker is marked unavailable.",
                "type": ["object", "null"],
                "properties": {
                    "attempts": sp.integer(
                        "Attempts", "Retries after the first try.", default=1, minimum=0, maximum=10
                    ),
                    "backoff_s": sp.number(
                        "Backoff (seconds)",
                        "The wait before the first retry; it doubles each time.",
                        default=0.5,
                        minimum=0,
                    ),
                },
                "additionalProperties": False,
                "x-error": "An object with attempts (a whole number from 0 to 10) and backoff_s (seconds, at least 0).",
            },
            "room": sp.text("Room", "The chat room the run's messages are posted to.", default="main"),
        }
    )

    def __init__(self, config: Mapping[str, Any] | None, members: Sequence[str]) -> None:
        reader = ConfigReader(
            config,
            allowed={"director", "workers", "max_loops", "retry", "max_invalid", "room"},
            error=StrategyConfigError,
        )
        self.director = reader.string("director", members[0] if members else "", required=True)
        if self.director not in members:
            reader.error("director", f"Unknown agent {self.director!r}: not a member of this swarm.")
        workers = reader.config.get("workers", [m for m in members if m != self.director])
        if not isinstance(workers, list) or not workers:
            reader.error("workers", "Give at least one worker (a member other than the director).")
            workers = []
        for worker in workers:
            if worker not in members or worker == self.director:
                reader.error("workers", f"{worker!r} is not a member other than the director.")
        self.workers: list[str] = [w for w in workers if isinstance(w, str)]
        self.max_loops = reader.integer("max_loops", 5, minimum=1, maximum=50) or 5
        self.max_invalid = reader.integer("max_invalid", 2, minimum=1, maximum=10) or 2
        retry = reader.config.get("retry", {}) or {}
        self.attempts = retry.get("attempts", 1) if isinstance(retry, Mapping) else 1
        self.backoff_s = float(retry.get("backoff_s", 0.5)) if isinstance(retry, Mapping) else 0.5
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int) or not 0 <= self.attempts <= 10:
            reader.error("retry", "attempts must be a whole number from 0 to 10.")
        self.room = reader.string("room", "main")
        reader.raise_if_invalid("boss-worker")

    # ---- transitions ------------------------------------------------------------

    def start(self, task: str) -> Transition:
        s = BossState(task=task)
        ask = self._ask_director(s)  # before dump(): it updates the state
        return Transition(s.dump(), (PostMessage(self.room, "task", task, is_human=True), ask))

    def on_fact(self, state: Mapping[str, Any], fact: Fact) -> Transition:
        s = BossState(**json.loads(json.dumps(state)))
        if isinstance(fact, MembersChanged):
            leaving = [w for w in fact.left if w in self.workers]
            s.unavailable += [w for w in leaving if w not in s.unavailable]
            return Transition(s.dump())
        if not isinstance(fact, StepFinished):
            raise StrategyError(f"Boss-worker cannot handle {type(fact).__name__}.")
        if fact.key == s.director_key:
            return self._director_replied(s, fact)
        order_id = fact.key.split("#")[0].removeprefix("order-")
        order = s.orders.get(order_id)
        if order is None or order["status"] not in ("running", "retrying"):
            raise StrategyError(f"No order is waiting for {fact.key!r}.")
        actions: list = []
        if fact.result.ok:
            order.update(status="done", output=fact.result.content)
            actions.append(PostMessage(self.room, order["agent"], fact.result.content))
        else:
            reason = fact.result.error or fact.result.outcome.value
            cancelled = fact.result.outcome is StepOutcome.CANCELLED  # e.g. the worker was terminated: no retry
            if order["attempt"] < self.attempts and not cancelled:
                order.update(attempt=order["attempt"] + 1, status="retrying", error=reason)
                delay = self.backoff_s * (2 ** (order["attempt"] - 1))
                step = RunStep(
                    key=f"order-{order_id}#{order['attempt']}", agent=order["agent"], input=order["task"], delay_s=delay
                )
                return Transition(s.dump(), (step,))
            order.update(status="failed", error=reason)
            if order["agent"] not in s.unavailable:
                s.unavailable.append(order["agent"])
            actions.append(
                PostMessage(
                    self.room, "system", f"{order['agent']} failed order {order_id} ({reason}); marked unavailable."
                )
            )
        return self._after_orders(s, actions)

    # ---- helpers -----------------------------------------------------------------

    def _healthy(self, s: BossState) -> list[str]:
        return [w for w in self.workers if w not in s.unavailable]

    def _ask_director(self, s: BossState) -> RunStep:
        s.loop += 1
        s.director_key = f"director-{s.loop}"
        brief = {
            "task": s.task,
            "loop": s.loop,
            "max_loops": self.max_loops,
            "workers": self._healthy(s),
            "results": [
                {
                    "order": oid,
                    "agent": o["agent"],
                    "task": o["task"],
                    "status": o["status"],
                    **({"output": o["output"]} if o["status"] == "done" else {"error": o.get("error", "")}),
                }
                for oid, o in s.orders.items()
                if o["status"] in ("done", "failed")
            ],
            "rejected": s.rejected,
            "reply_with": 'JSON: {"orders": [{"agent": ..., "task": ...}]} or {"answer": ...}',
        }
        s.rejected = []
        return RunStep(key=s.director_key, agent=self.director, input=json.dumps(brief, indent=2))

    def _director_replied(self, s: BossState, fact: StepFinished) -> Transition:
        if not fact.result.ok:
            return self._finish(s, [], note=f"the director failed: {fact.result.error}")
        try:
            reply = json.loads(_json_block(fact.result.content))
            jsonschema.validate(reply, REPLY_SCHEMA)
        except (ValueError, jsonschema.ValidationError) as exc:
            s.invalid_replies += 1
            message = getattr(exc, "message", str(exc))
            if s.invalid_replies >= self.max_invalid:
                return self._finish(s, [], note=f"the director's replies were not valid ({message})")
            s.rejected.append(f"Your reply was not valid JSON for the schema: {message}")
            ask = self._ask_director(s)
            return Transition(s.dump(), (ask,))
        s.invalid_replies = 0
        actions: list = [PostMessage(self.room, self.director, fact.result.content)]
        if "answer" in reply:
            return Transition(s.dump(), (*actions, Finish(reply["answer"])))
        healthy = self._healthy(s)
        for order in reply["orders"]:
            if order["agent"] not in self.workers:
                s.rejected.append(f"Unknown worker {order['agent']!r} (workers: {', '.join(self.workers)}).")
                continue
            if order["agent"] not in healthy:
                s.rejected.append(f"Worker {order['agent']!r} is unavailable; reassign its order.")
                continue
            order_id = str(len(s.orders) + 1)
            s.orders[order_id] = {"agent": order["agent"], "task": order["task"], "status": "running", "attempt": 0}
            actions.append(RunStep(key=f"order-{order_id}#0", agent=order["agent"], input=order["task"]))
        if not any(isinstance(a, RunStep) for a in actions):
            return self._next_loop(s, actions)
        return Transition(s.dump(), tuple(actions))

    def _after_orders(self, s: BossState, actions: list) -> Transition:
        if any(o["status"] in ("running", "retrying") for o in s.orders.values()):
            return Transition(s.dump(), tuple(actions))
        failed = [o for o in s.orders.values() if o["status"] == "failed"]
        if failed and not self._healthy(s):
            return self._finish(s, actions, note="no healthy worker remains")
        return self._next_loop(s, actions)

    def _next_loop(self, s: BossState, actions: list) -> Transition:
        if s.loop >= self.max_loops:
            return self._finish(s, actions, note=f"the director did not conclude within {self.max_loops} loops")
        ask = self._ask_director(s)
        return Transition(s.dump(), (*actions, ask))

    def _finish(self, s: BossState, actions: list, *, note: str) -> Transition:
        done = [f"- order {oid} ({o['agent']}): {o['output']}" for oid, o in s.orders.items() if o["status"] == "done"]
        failed = [
            f"- order {oid} ({o['agent']}: {o['task']}): {o.get('error', '')}"
            for oid, o in s.orders.items()
            if o["status"] == "failed"
        ]
        report = [f"Partial results: {note}.", "Done:", *(done or ["- nothing"])]
        if failed:
            report += ["Failed orders:", *failed]
        return Transition(s.dump(), (*actions, Finish("\n".join(report))))


def _json_block(text: str) -> str:
    match = re.search(r"```(?:json)?\s*\n(.*?)```", text, re.DOTALL)
    return match.group(1) if match else text.strip()
