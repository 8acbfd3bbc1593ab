"""Start from a pattern: the gallery page and the one-step creation of a pattern's agents and swarm."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from apps.core.errors import FieldsError
from apps.swarms.models import Swarm
from apps.swarms.patterns import create_from_pattern, pattern

# Where a new swarm made from a pattern opens: its designer, to adapt it. Until the designer's
# page is wired in, the swarm's own page.
AFTER_CREATE_URL_NAME = "dashboard:swarm-design"
AFTER_CREATE_FALLBACK_URL_NAME = "dashboard:swarm-detail"


def after_create_url(swarm: Swarm) -> str:
    try:
        return reverse(AFTER_CREATE_URL_NAME, args=[swarm.pk])
    except NoReverseMatch:
        return reverse(AFTER_CREATE_FALLBACK_URL_NAME, args=[swarm.pk])


@login_required
def pattern_list(request: HttpRequest) -> HttpResponse:
    """The gallery on a page of its own (the new-swarm page shows it too)."""
    return render(request, "dashboard/patterns.html")


@login_required
@require_POST
def pattern_use(request: HttpRequest, key: str) -> HttpResponse:
    """Create the pattern's agents and swarm; a clash shows beside the name it concerns, nothing created."""
    try:
        pattern(key)
    except FieldsError:
        raise Http404("No such pattern.") from None
    name, prefix = request.POST.get("name", ""), request.POST.get("prefix", "")
    try:
        swarm = create_from_pattern(owner=request.user, key=key, name=name, prefix=prefix)
    except FieldsError as exc:
        context = {"pattern_errors": {key: exc.fields or {"": [exc.message]}}, "pattern_values": {key: request.POST}}
        return render(request, "dashboard/patterns.html", context, status=400)
    messages.success(request, f"Created {swarm.name!r} and its {swarm.members.count()} agents from the pattern.")
    return redirect(after_create_url(swarm))
