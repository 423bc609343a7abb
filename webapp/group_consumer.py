"""The one shape every Tailor socket has: join one Channels group, leave it on close, push only."""

from __future__ import annotations

import json

from channels.generic.websocket import AsyncWebsocketConsumer


class GroupConsumer(AsyncWebsocketConsumer):
    """A push-only socket on one group; a client message gets a clear error (subclasses may accept some)."""

    #: the error a client gets for any message it sends
    unsupported_message = "this socket only pushes; send nothing"

    async def join(self, group: str) -> None:
        """Join ``group`` and accept the connection."""
        self.group = group
        await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.send(text_data=json.dumps({"type": "error", "error": self.unsupported_message}))
