"""``{% pattern_gallery %}``: the pattern cards, each with its picture and a "Use this pattern" form."""

from __future__ import annotations

from typing import Any

from django import template

from apps.swarms.patterns import PATTERNS, suggested_names

register = template.Library()


@register.inclusion_tag("dashboard/_pattern_gallery.html", takes_context=True)
def pattern_gallery(context: template.Context) -> dict[str, Any]:
    """Cards for the person in ``context["request"]``; a failed "Use" (``pattern_errors`` and
    ``pattern_values`` in the context, by pattern key) keeps its values and shows its errors."""
    request = context["request"]
    errors = context.get("pattern_errors") or {}
    values = context.get("pattern_values") or {}
    cards = []
    for p in PATTERNS:
        name, prefix = suggested_names(request.user, p)
        posted = values.get(p.key) or {}
        problems = errors.get(p.key) or {}
        cards.append(
            {
                "pattern": p,
                "name": posted.get("name", name),
                "prefix": posted.get("prefix", prefix),
                "errors": problems,
                "name_errors": problems.get("name", []),
                "prefix_errors": problems.get("prefix", []),
                "other_errors": [m for k, ms in problems.items() if k not in ("name", "prefix") for m in ms],
                "boxes": p.diagram.boxes(),
                "lines": p.diagram.lines(),
            }
        )
    return {"cards": cards, "csrf_token": context.get("csrf_token")}
