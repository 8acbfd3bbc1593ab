"""The one way run events reach live viewers: published to the run's channel
group after the transaction that wrote them commits.

Publishing happens on a background thread that owns one event loop (and so
one pool of Redis connections), so a worker never waits on fan-out. Redis
only fans out; the database holds the events, so a publish that fails is
logged and recovered by clients replaying from their last sequence number.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from concurrent.futures import Future
from typing import Any

import orjson
from channels.layers import get_channel_layer
from django.db import transaction

from apps.core.db import json_bytes

logger = logging.getLogger(__name__)


def run_group(run_id: int) -> str:
    return f"run-{run_id}"


class _Publisher:
    """A daemon thread running an event loop dedicated to channel-layer sends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid: int | None = None

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():  # first use, or we were forked
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="swarmweb-publisher", daemon=True)
                thread.start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop

    def submit(self, group: str, message: dict[str, Any]) -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), self._ensure_loop())
        future.add_done_callback(self._done)

    @staticmethod
    def _done(future: Future) -> None:
        if not future.cancelled() and future.exception() is not None:
            logger.warning("Live publish failed: %s", future.exception())


_publisher = _Publisher()


def publish_now(group: str, message: dict[str, Any]) -> None:
    """Queue ``message`` for the group; returns at once."""
    try:
        _publisher.submit(group, message)
    except Exception:  # never let live fan-out break the work that produced it
        logger.warning("Could not publish to %s", group, exc_info=True)


def publish_run_events_on_commit(run_id: int, events: list[dict[str, Any]]) -> None:
    """Send ``events`` (already saved in this transaction) to viewers once it commits.

    The events travel as one JSON document (``run_events_in`` reads them back): the channel
    layer's msgpack then copies a single string instead of walking hundreds of small dicts,
    packing and unpacking a wide fan-out's 400 events took 3.8 ms against 1.5 for JSON."""
    if not events:
        return
    message = {"type": "run.events", "events_json": json_bytes(events)}
    transaction.on_commit(lambda: publish_now(run_group(run_id), message))


def run_events_in(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The events of a ``run.events`` group message."""
    return orjson.loads(message["events_json"])


def publish_steps_started(run_id: int, steps: list[dict[str, Any]]) -> None:
    """Tell viewers steps are running (one message for a batch). Live only: the step rows record
    when they started."""
    if steps:
        publish_now(run_group(run_id), {"type": "steps.started", "steps": steps})


def publish_step_delta(run_id: int, step_id: int, text: str) -> None:
    """Relay streamed tokens of a running step. Live only: the final output is persisted."""
    publish_now(run_group(run_id), {"type": "step.delta", "step_id": step_id, "text": text})


def agents_group(owner_id: int) -> str:
    return f"agents-{owner_id}"


def publish_agents_changed_on_commit(owner_id: int) -> None:
    """Tell open agent-tree pages of this owner to refresh, once the change commits."""
    transaction.on_commit(lambda: publish_now(agents_group(owner_id), {"type": "agents.changed"}))
