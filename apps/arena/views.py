"""Arena pages: leaderboards per domain and the trial history (both refresh themselves while open)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .models import Rating, Trial
from .services import leaderboards


@login_required
def leaderboard(request: HttpRequest) -> HttpResponse:
    domain = request.GET.get("domain") or None
    context = {
        "boards": leaderboards(request.user, domain=domain),
        "domain": domain,
        "domains": Rating.objects.filter(owner=request.user).values_list("domain", flat=True).distinct(),
        "trials": Trial.objects.filter(owner=request.user, **({"domain": domain} if domain else {}))[:50],
    }
    template = "arena/_boards.html" if request.htmx else "arena/leaderboard.html"
    return render(request, template, context)
