"""Websocket consumer for a training run's live view: ``/ws/training/<id>/``.

On connect it sends a snapshot (status, progress, every epoch's metrics so
far, the evaluation if done), then relays updates as JSON. A client that
reconnects simply gets a fresh snapshot, so nothing is lost or repeated in
what it draws.
"""

from __future__ import annotations

import json

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from .access import visible_training_runs
from .broadcast import training_group
from .presenters import snapshot


class TrainingConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()
            return
        self.run_id = int(self.scope["url_route"]["kwargs"]["run_id"])
        state = await self._snapshot(user)
        if state is None:
            await self.close()
            return
        self.group = training_group(self.run_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send(text_data=json.dumps({"kind": "snapshot", **state}))

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def training_update(self, message: dict) -> None:
        await self.send(text_data=json.dumps(message["update"]))

    @database_sync_to_async
    def _snapshot(self, user) -> dict | None:
        run = visible_training_runs(user).filter(pk=self.run_id).first()
        return snapshot(run) if run is not None else None
