"""The one visibility rule for owned records: owners see their own, staff see everything,
visitors nothing. Each kind of record names its own entry point (``visible_runs``,
``visible_swarms``...) so that pages, API and websockets ask the same question."""

from __future__ import annotations

from django.db.models import Model, QuerySet


def owned_or_all(model: type[Model], user) -> QuerySet:
    if not user.is_authenticated:
        return model._default_manager.none()
    if user.is_staff:
        return model._default_manager.all()
    return model._default_manager.filter(owner=user)
