"""The Tools page: built-in tools with the privilege each needs, and tools agents made, to review."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.core.access import owned_or_all
from apps.core.errors import Conflict

from . import services
from .models import MadeTool
from .registry import builtin_tools


def _visible(user):
    return owned_or_all(MadeTool, user)


@login_required
def tool_list(request: HttpRequest) -> HttpResponse:
    context = {
        "builtins": sorted(builtin_tools().values(), key=lambda t: t.name),
        "made": _visible(request.user).select_related("made_by", "reviewed_by"),
    }
    return render(request, "tools/tool_list.html", context)


@login_required
def tool_detail(request: HttpRequest, pk: int) -> HttpResponse:
    tool = get_object_or_404(_visible(request.user).select_related("made_by", "made_in_run", "reviewed_by"), pk=pk)
    versions = _visible(request.user).filter(owner=tool.owner, name=tool.name).order_by("-version")
    return render(request, "tools/tool_detail.html", {"tool": tool, "versions": versions})


@login_required
@require_POST
def tool_review(request: HttpRequest, pk: int) -> HttpResponse:
    tool = get_object_or_404(_visible(request.user), pk=pk)
    approve = request.POST.get("decision") == "approve"
    try:
        services.review_tool(tool, approve=approve, user=request.user, note=request.POST.get("note", ""))
    except Conflict as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{tool.name} v{tool.version} {'approved' if approve else 'rejected'}.")
    return redirect("tools:tool-detail", pk=tool.pk)
