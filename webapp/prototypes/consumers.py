"""The staff review page's socket: the live map, the prototype list, the audit and job progress, as htmx
out-of-band swaps. Workers push to group ``staff.prototypes``; only active staff may listen."""

from __future__ import annotations

import asyncio
from typing import Any

from channels.db import database_sync_to_async
from django.template.loader import render_to_string

from webapp.group_consumer import GroupConsumer
from webapp.prototypes.services import STAFF_GROUP

#: profile refits arrive in bursts (a refit of everyone pushes once per user): at most one map per window
MAP_COALESCE_SECONDS = 0.15
PROGRESS_STAGE_MAX = 200


class StaffPrototypesConsumer(GroupConsumer):
    unsupported_message = "this socket only pushes the review page's updates"

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_staff or not user.is_active:
            await self.close(code=4403)
            return
        self.user_id: int = user.pk
        self._map_dirty = False
        self._map_task: asyncio.Task[None] | None = None
        self._sent_version: int | None = None
        await self.join(STAFF_GROUP)

    async def disconnect(self, code: int) -> None:
        task = getattr(self, "_map_task", None)
        if task is not None:
            task.cancel()
        await super().disconnect(code)

    async def prototypes_map(self, event: dict[str, Any]) -> None:
        """A user's profile changed: re-render the map once the burst is over."""
        self._map_dirty = True
        if self._map_task is None or self._map_task.done():
            self._map_task = asyncio.ensure_future(self._map_soon())

    async def _map_soon(self) -> None:
        """Render at once, then at most once per window while updates keep coming (the last one is never lost:
        an update during a render or a window marks the map dirty for one more round)."""
        while self._map_dirty:
            self._map_dirty = False
            if not await self._still_allowed():
                return
            html, version = await self._render_map()
            if version != self._sent_version:
                self._sent_version = version
                await self.send(text_data=html)
            await asyncio.sleep(MAP_COALESCE_SECONDS)

    async def prototypes_updated(self, event: dict[str, Any]) -> None:
        """Prototypes or their audit changed (a staff action or a clustering run): re-render every live part."""
        if await self._still_allowed():
            html, version = await self._render_all()
            self._sent_version = version
            await self.send(text_data=html)

    async def prototypes_progress(self, event: dict[str, Any]) -> None:
        if not await self._still_allowed():
            return
        try:
            done, total = int(event.get("done", 0)), max(int(event.get("total", 1)), 1)
        except (TypeError, ValueError):
            return
        context = {"job": str(event.get("job", ""))[:20], "stage": str(event.get("stage", ""))[:PROGRESS_STAGE_MAX],
                   "done": min(max(done, 0), total), "total": total, "oob": True}
        await self.send(text_data=render_to_string("prototypes/_progress.html", context))

    @database_sync_to_async
    def _still_allowed(self) -> bool:
        from django.contrib.auth import get_user_model

        return get_user_model().objects.filter(pk=self.user_id, is_active=True, is_staff=True).exists()

    @database_sync_to_async
    def _render_map(self) -> tuple[str, int]:
        from webapp.prototypes.selectors import prototype_map

        payload = prototype_map(with_summaries=True)
        return render_to_string("prototypes/_map.html", {"map": payload, "oob": True}), payload["version"]

    @database_sync_to_async
    def _render_all(self) -> tuple[str, int]:
        from webapp.prototypes.views import review_context

        context = {**review_context(), "oob": True}
        html = "".join(render_to_string(name, context) for name in
                       ("prototypes/_map.html", "prototypes/_list.html", "prototypes/_audit.html"))
        return html, int(context["map"]["version"])  # type: ignore[index]
