from decimal import Decimal

from django import template

from apps.runs.presenters import money as format_money

register = template.Library()


@register.filter
def money(value) -> str:
    """Dollars without trailing zeros."""
    return format_money(Decimal(value)) if value is not None else ""
