"""Who may see which training runs and datasets: owners, and staff for everything."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import TrainingDataset, TrainingRun


def visible_training_runs(user) -> QuerySet[TrainingRun]:
    if not user.is_authenticated:
        return TrainingRun.objects.none()
    return TrainingRun.objects.all() if user.is_staff else TrainingRun.objects.filter(owner=user)


def visible_datasets(user) -> QuerySet[TrainingDataset]:
    if not user.is_authenticated:
        return TrainingDataset.objects.none()
    return TrainingDataset.objects.all() if user.is_staff else TrainingDataset.objects.filter(owner=user)
