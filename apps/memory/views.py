"""The memory browser: pick a memory, search it (scores shown) or list its latest entries."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.core.errors import FieldsError

from . import services
from .forms import MemorySearchForm
from .models import MemoryEntry

RECENT = 50


@login_required
def memory_browser(request: HttpRequest) -> HttpResponse:
    """A GET form; with htmx only the results partial is rendered (the same URL works without it)."""
    form = MemorySearchForm(request.GET or None, owner=request.user)
    hits: list[services.MemoryHit] = []
    recent: list[MemoryEntry] = []
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        filters = {"author": data["author"], "run": data["run"], "tag": data["tag"] or None}
        try:
            if data["query"]:
                hits = services.search_memory(
                    owner=request.user, query=data["query"], k=data["k"] or 10, **filters, **form.scope_args()
                )
            else:
                recent = services.recent_memory(owner=request.user, limit=RECENT, **filters, **form.scope_args())
        except FieldsError as exc:
            for field, errors in exc.fields.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
    scope = form.cleaned_data.get("scope", "") if form.is_bound and not form.errors else ""
    context = {"form": form, "hits": hits, "recent": recent, "scope": scope}
    template = "memory/_results.html" if request.htmx else "memory/browser.html"
    # htmx swaps only 2xx answers: the partial carries the errors with a 200; a full page says 400.
    failed = bool(form.errors) and not request.htmx
    return render(request, template, context, status=400 if failed else 200)
