"""Live profile panel: the worker's ``group_send`` arrives here and goes out as an htmx out-of-band swap."""

from __future__ import annotations

import json
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.template.loader import render_to_string

from webapp.group_consumer import GroupConsumer
from webapp.profiles.selectors import profile_detail, profile_get
from workers import contracts
from workers.contracts import ProfileUpdated

user_group = contracts.user_group


class ProfileConsumer(GroupConsumer):
    """One socket per open page of a signed-in user; joins only that user's group."""

    unsupported_message = 'unsupported message; send {"type": "ping"}'

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.user_id: int = user.pk
        # /me/ asks for every live part; /vote/ only for the panel
        self.detail = b"detail=1" in self.scope.get("query_string", b"")
        await self.join(user_group(self.user_id))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Clients may only ping; anything else gets a clear error and changes nothing."""
        try:
            message: Any = json.loads(text_data or "")
        except ValueError:
            message = None
        if isinstance(message, dict) and message.get("type") == "ping":
            await self.send(text_data=json.dumps({"type": "pong"}))
            return
        await super().receive(text_data, bytes_data)

    async def profile_updated(self, event: ProfileUpdated) -> None:
        if event.get("user_id") != self.user_id or not await self._still_allowed():
            return  # permission re-checked on every event, not only at connect
        html = await self._render()
        await self.send(text_data=html)

    @database_sync_to_async
    def _still_allowed(self) -> bool:
        from django.contrib.auth import get_user_model

        return get_user_model().objects.filter(pk=self.user_id, is_active=True).exists()

    @database_sync_to_async
    def _render(self) -> str:
        confident = settings.PERSONALIZATION["confident_votes"]
        if self.detail:
            detail = profile_detail(user_id=self.user_id, confident_votes=confident)
            return render_to_string("profiles/_live.html", {"profile": detail.view, "detail": detail})
        profile = profile_get(user_id=self.user_id, confident_votes=confident)
        return render_to_string("profiles/_live.html", {"profile": profile})
