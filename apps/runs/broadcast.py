"""The one way run events reach live viewers: published to the run's channel
group after the transaction that wrote them commits.

Redis only fans out; the database holds the events, so a publish that fails
is logged and recovered by clients replaying from their last sequence number.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def run_group(run_id: int) -> str:
    return f"run-{run_id}"


def publish_now(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:  # never let live fan-out break the work that produced it
        logger.warning("Could not publish to %s", group, exc_info=True)


def publish_run_events_on_commit(run_id: int, events: list[dict[str, Any]]) -> None:
    """Send ``events`` (already saved in this transaction) to viewers once it commits."""
    if not events:
        return
    message = {"type": "run.events", "events": events}
    transaction.on_commit(lambda: publish_now(run_group(run_id), message))


def publish_step_delta(run_id: int, step_id: int, text: str) -> None:
    """Relay streamed tokens of a running step. Not persisted: the final output is."""
    publish_now(run_group(run_id), {"type": "step.delta", "step_id": step_id, "text": text})
