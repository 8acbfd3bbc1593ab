"""Plain dicts describing a training run, shared by the API, the page and the websocket."""

from __future__ import annotations

from typing import Any

from .models import TrainingRun


def snapshot(run: TrainingRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "status": run.status,
        "epochs": run.epochs,
        "epochs_done": run.epochs_done,
        "episodes_done": run.episodes_done,
        "training_seconds": round(run.training_seconds, 3),
        "agents": list(run.agent_names),
        "history": [row.metrics for row in run.epoch_metrics.order_by("epoch")],
        "evaluation": run.evaluation,
        "topology": run.topology,
        "error": run.error,
    }
