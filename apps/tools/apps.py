from typing import Any

from django.apps import AppConfig


def offered_tools(owner: Any) -> dict[str, str]:
    """The tools agents of ``owner`` (None: anyone) can be offered: the built-ins and approved made tools."""
    from .models import MadeTool, MadeToolStatus
    from .registry import builtin_tools

    tools = {name: tool.description for name, tool in builtin_tools().items()}
    made = MadeTool.objects.filter(status=MadeToolStatus.APPROVED)
    if owner is not None:
        made = made.filter(owner=owner)
    for name, description in made.order_by("name", "-version").values_list("name", "description"):
        tools.setdefault(name, description)
    return tools


class ToolsConfig(AppConfig):
    name = "apps.tools"

    def ready(self) -> None:
        # The agents layer lists privileges (admin, YAML imports) without importing this one.
        from apps.agents.catalogue import register_tool_source

        register_tool_source(offered_tools)
