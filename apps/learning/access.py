"""Who may see which training runs and datasets: owners, and staff for everything."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.core.access import owned_or_all

from .models import TrainingDataset, TrainingRun


def visible_training_runs(user) -> QuerySet[TrainingRun]:
    return owned_or_all(TrainingRun, user)


def visible_datasets(user) -> QuerySet[TrainingDataset]:
    return owned_or_all(TrainingDataset, user)
