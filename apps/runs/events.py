"""Appending to a run's event log."""

from __future__ import annotations

from typing import Any

from apps.core.db import insert_rows
from apps.engine.values import EventKind

from .broadcast import publish_run_events_on_commit
from .models import Run, RunEvent


class EventLog:
    """Collects events for a run whose row is locked by the current transaction.

    ``append`` assigns the next sequence number; ``flush`` inserts the events
    in one query and schedules one publish after commit. The caller saves
    ``run.event_seq`` (``flush(save_seq=True)`` does it when nothing else will).
    Because the run row stays locked until commit, events commit in
    sequence order and a reader never sees seq N+1 before N.
    """

    def __init__(self, run: Run) -> None:
        self.run = run
        self.pending: list[RunEvent] = []

    def append(self, kind: EventKind, data: dict[str, Any]) -> None:
        self.run.event_seq += 1
        self.pending.append(RunEvent(run=self.run, seq=self.run.event_seq, kind=kind.value, data=data))

    def flush(self, *, save_seq: bool = False) -> None:
        if not self.pending:
            return
        events = self.pending
        insert_rows(events)
        if save_seq:
            Run.objects.filter(pk=self.run.pk).update(event_seq=self.run.event_seq)
        publish_run_events_on_commit(self.run.pk, [e.as_message() for e in events])
        self.pending = []
