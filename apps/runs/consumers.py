"""Websocket consumer for a run's live view.

Connect to ``/ws/runs/<id>/?after=<seq>`` (add ``format=json`` for JSON
events instead of HTMX fragments). The consumer joins the run's group, then
replays every event after ``after`` from the database, then relays live
events, skipping any it already sent and filling gaps from the database, so
a reconnecting client never loses or repeats an event. Live-only notices
(a step started, streamed tokens) are relayed as they come and not replayed.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.template.loader import render_to_string

from apps.engine.values import EventKind

from .access import visible_runs
from .broadcast import run_events_in, run_group
from .models import RunEvent, Step, StepStatus

REPLAY_BATCH = 500


class RunConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()
            return
        self.run_id = int(self.scope["url_route"]["kwargs"]["run_id"])
        if not await self._can_view(user):
            await self.close()
            return
        query = parse_qs(self.scope.get("query_string", b"").decode())
        self.as_json = query.get("format", ["html"])[0] == "json"
        try:
            self.last_seq = max(0, int(query.get("after", ["0"])[0]))
        except ValueError:
            self.last_seq = 0
        self.finished_steps: set[int] = set()
        self.group = run_group(self.run_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self._replay()

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None) -> None:
        """Clients may ask for a replay: ``{"resume_after": <seq>}``."""
        try:
            payload = json.loads(text_data or "{}")
            after = int(payload.get("resume_after"))
        except (ValueError, TypeError, AttributeError):
            return
        self.last_seq = max(0, after)
        await self._replay()

    # ---- group messages -------------------------------------------------------

    async def run_events(self, message: dict) -> None:
        for event in run_events_in(message):
            if event["kind"] == "step.finished":
                self.finished_steps.add(event["data"]["step_id"])
            if event["seq"] <= self.last_seq:
                continue
            if event["seq"] > self.last_seq + 1:
                await self._replay()  # a gap: the database has what we missed
                continue
            await self._send_event(event)

    async def steps_started(self, message: dict) -> None:
        """Live-only notice that steps are running (not in the event log): one frame per step."""
        steps = [s for s in message["steps"] if s["step_id"] not in self.finished_steps]
        running = await self._still_running([s["step_id"] for s in steps]) if steps else set()
        for step in steps:
            if step["step_id"] not in running:
                continue  # the notice lost a race with the step's result
            if self.as_json:
                await self.send(text_data=json.dumps({"kind": EventKind.STEP_STARTED, "live": True, "data": step}))
            else:
                await self.send(text_data=render_to_string("runs/_step.html", {"step": step, "oob": True}))

    async def tool_called(self, message: dict) -> None:
        """Live-only: an agent called a tool during a running step (the step's record keeps it for good)."""
        call, step_id = message["call"], message["step_id"]
        if self.as_json:
            await self.send(text_data=json.dumps({"kind": EventKind.TOOL_CALLED, "step_id": step_id, "data": call}))
        else:
            html = render_to_string("runs/_tool_call_live.html", {"call": call, "step_id": step_id})
            await self.send(text_data=html)

    async def step_delta(self, message: dict) -> None:
        if self.as_json:
            await self.send(
                text_data=json.dumps(
                    {"kind": EventKind.STEP_DELTA, "step_id": message["step_id"], "text": message["text"]}
                )
            )
        else:
            html = render_to_string("runs/_delta.html", {"step_id": message["step_id"], "text": message["text"]})
            await self.send(text_data=html)

    # ---- helpers -----------------------------------------------------------

    async def _replay(self) -> None:
        while True:
            batch = await self._events_after(self.last_seq)
            for event in batch:
                await self._send_event(event)
            if len(batch) < REPLAY_BATCH:
                return

    async def _send_event(self, event: dict) -> None:
        self.last_seq = event["seq"]
        if event["kind"] == "step.finished":
            self.finished_steps.add(event["data"]["step_id"])
        if self.as_json:
            await self.send(text_data=json.dumps(event))
        else:
            await self.send(text_data=render_to_string("runs/_event.html", {"event": event, "data": event["data"]}))

    @database_sync_to_async
    def _can_view(self, user) -> bool:
        return visible_runs(user).filter(pk=self.run_id).exists()

    @database_sync_to_async
    def _still_running(self, step_ids: list[int]) -> set[int]:
        rows = Step.objects.filter(pk__in=step_ids, run_id=self.run_id, status=StepStatus.RUNNING)
        return set(rows.values_list("pk", flat=True))

    @database_sync_to_async
    def _events_after(self, seq: int) -> list[dict]:
        rows = RunEvent.objects.filter(run_id=self.run_id, seq__gt=seq).order_by("seq")[:REPLAY_BATCH]
        return [e.as_message() for e in rows]
