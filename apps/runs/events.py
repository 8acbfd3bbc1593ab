"""Appending to a run's event log."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.utils import timezone
from psycopg.types.json import Jsonb

from apps.core.db import COPY_FROM_ROWS, copy_rows, json_bytes
from apps.engine.values import EventKind

from .broadcast import publish_run_events_on_commit
from .models import Run, RunEvent


class EventLog:
    """Collects events for a run whose row is locked by the current transaction.

    ``append`` assigns the next sequence number; ``flush`` inserts the events
    in one statement (``COPY`` on PostgreSQL) and schedules one publish after
    commit. The caller saves ``run.event_seq`` (``flush(save_seq=True)`` does
    it when nothing else will). Because the run row stays locked until
    commit, events commit in sequence order and a reader never sees seq N+1
    before N.
    """

    def __init__(self, run: Run) -> None:
        self.run = run
        self.pending: list[tuple[int, str, dict[str, Any]]] = []

    def append(self, kind: EventKind, data: dict[str, Any]) -> None:
        self.run.event_seq += 1
        self.pending.append((self.run.event_seq, kind.value, data))

    def flush(self, *, save_seq: bool = False) -> None:
        if not self.pending:
            return
        if connection.vendor == "postgresql" and len(self.pending) >= COPY_FROM_ROWS:
            now = timezone.now()
            rows = [(self.run.pk, seq, kind, Jsonb(data, dumps=json_bytes), now) for seq, kind, data in self.pending]
            copy_rows(RunEvent, ["run_id", "seq", "kind", "data", "created_at"], rows)
            at = now.isoformat()
            messages = [{"seq": seq, "kind": kind, "data": data, "at": at} for seq, kind, data in self.pending]
        else:
            events = [RunEvent(run=self.run, seq=seq, kind=kind, data=data) for seq, kind, data in self.pending]
            RunEvent.objects.bulk_create(events)
            messages = [event.as_message() for event in events]
        if save_seq:
            Run.objects.filter(pk=self.run.pk).update(event_seq=self.run.event_seq)
        publish_run_events_on_commit(self.run.pk, messages)
        self.pending = []
