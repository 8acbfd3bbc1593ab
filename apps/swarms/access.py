"""Who may see and change which swarms: owners, and staff for everything (as for runs).

The pages and the REST API both read through here, so a staff member can do over the
API exactly what the swarm pages let them do."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.core.access import owned_or_all

from .models import Swarm


def visible_swarms(user) -> QuerySet[Swarm]:
    return owned_or_all(Swarm, user)
