"""Live training updates: sent to the training run's group after the transaction commits.

The database holds the truth (epoch metrics, status); a viewer that missed a
message gets the full picture again from the snapshot sent when it connects.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.runs.broadcast import publish_now


def training_group(run_id: int) -> str:
    return f"training-{run_id}"


def publish_training_on_commit(run_id: int, update: dict[str, Any]) -> None:
    message = {"type": "training.update", "update": update}
    transaction.on_commit(lambda: publish_now(training_group(run_id), message))
