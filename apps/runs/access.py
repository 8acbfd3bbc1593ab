"""Who may see and act on which runs: owners, and staff for everything."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.core.access import owned_or_all

from .models import Run


def visible_runs(user) -> QuerySet[Run]:
    return owned_or_all(Run, user)
