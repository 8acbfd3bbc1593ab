"""Who may see and act on which runs: owners, and staff for everything."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Run


def visible_runs(user) -> QuerySet[Run]:
    if not user.is_authenticated:
        return Run.objects.none()
    if user.is_staff:
        return Run.objects.all()
    return Run.objects.filter(owner=user)
