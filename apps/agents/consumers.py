"""Websocket for the Agents page: re-renders the owner's hierarchy (the tree list and the canvas's
data, both swapped out of band) whenever it changes."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.template.loader import render_to_string

from apps.runs.broadcast import agents_group

from .models import Agent


def agent_forest(owner) -> list[dict]:
    """The owner's agents as nested ``{"agent", "children"}`` dicts, roots first."""
    agents = list(Agent.objects.filter(owner=owner).order_by("level", "name"))
    children: dict[int | None, list[Agent]] = {}
    for agent in agents:
        children.setdefault(agent.parent_id, []).append(agent)

    def subtree(agent: Agent) -> dict:
        return {"agent": agent, "children": [subtree(c) for c in children.get(agent.pk, [])]}

    return [subtree(a) for a in children.get(None, [])]


def agent_graph(owner) -> dict:
    """The owner's agents as the canvas draws them: one node per agent, one edge per parent link."""
    agents = list(Agent.objects.filter(owner=owner).order_by("level", "name"))
    return {
        "nodes": [
            {
                "id": agent.pk,
                "name": agent.name,
                "level": agent.level,
                "parent": agent.parent_id,
                "provider": agent.provider,
                "status": agent.status,
                "privileges": list(agent.privileges),
            }
            for agent in agents
        ],
        "edges": [{"source": a.parent_id, "target": a.pk} for a in agents if a.parent_id is not None],
    }


class AgentTreeConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()
            return
        self.user = user
        self.group = agents_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def agents_changed(self, message: dict) -> None:
        await self.send(text_data=await self._render())

    @database_sync_to_async
    def _render(self) -> str:
        context = {"roots": agent_forest(self.user), "graph": agent_graph(self.user), "oob": True}
        return render_to_string("dashboard/_agent_tree.html", context)
