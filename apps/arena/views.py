"""Arena pages: ORC leaderboards per domain with the trial history, and a swarm's SAO curriculum
(standings, reward histories, attempts). Both refresh themselves while open."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from apps.swarms.models import Strategy, Swarm

from . import services
from .models import Rating, Trial


@login_required
def leaderboard(request: HttpRequest) -> HttpResponse:
    domain = request.GET.get("domain") or None
    context = {
        "boards": services.leaderboards(request.user, domain=domain),
        "curricula": Swarm.objects.filter(owner=request.user, strategy=Strategy.SAO),
        "domain": domain,
        "domains": Rating.objects.filter(owner=request.user).values_list("domain", flat=True).distinct(),
        "trials": Trial.objects.filter(owner=request.user, **({"domain": domain} if domain else {}))[:50],
    }
    template = "arena/_boards.html" if request.htmx else "arena/leaderboard.html"
    return render(request, template, context)


@login_required
def curriculum(request: HttpRequest, swarm_id: int) -> HttpResponse:
    swarm = get_object_or_404(Swarm, pk=swarm_id, owner=request.user)
    context = {"swarm": swarm, **services.curriculum(swarm)}
    template = "arena/_curriculum.html" if request.htmx else "arena/curriculum.html"
    return render(request, template, context)
