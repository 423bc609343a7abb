"""Demo sockets. The presenter's joins ``demo.<id>`` (staff presenter only): it forwards the screens workers
render after each refit, newest version only, and re-renders the room itself on the web's pushes (joins, stages),
coalescing bursts. A participant's joins its own ``user.<id>`` group (profile refits) and the room group (stage
changes), never the presenter's."""

from __future__ import annotations

import asyncio
import time
from typing import Any, TypedDict

from channels.db import database_sync_to_async
from django.template.loader import render_to_string
from django.urls import reverse

from webapp.demos import selectors
from webapp.demos.models import DemoSession
from webapp.demos.panels import participant_panel, presenter_live, presenter_session
from webapp.demos.services import presenter_group, room_group
from webapp.group_consumer import GroupConsumer


class DemoUpdated(TypedDict, total=False):
    """Sent to ``demo.<session id>`` by the web (join, stage) and by workers (after a participant's refit, with
    the screen already rendered in ``html``)."""

    type: str  # "demo.updated"
    session_id: int
    version: int
    reason: str
    html: str


class DemoStage(TypedDict):
    """Sent to ``demo.<session id>.room`` when the stage changes."""

    type: str  # "demo.stage"
    session_id: int
    stage: str


class PresenterConsumer(GroupConsumer):
    unsupported_message = "this socket only pushes the room; send nothing"

    #: at most one render per window: the first update of a burst goes out at once, the rest are folded into the
    #: next render (renders share Channels' one database thread with every other socket of the process)
    render_interval = 0.1
    #: how often the numbers are refreshed without an update (votes per minute decays when voting stops)
    tick_seconds = 15.0
    #: at most one forwarded screen per window (a screen needs no more than 25 a second; a burst sends the newest)
    forward_interval = 0.04
    #: forwarding re-checks that this user may still present at most this often (a render checks every time)
    recheck_seconds = 1.0

    async def connect(self) -> None:
        user = self.scope.get("user")
        code = str(self.scope["url_route"]["kwargs"]["code"])
        found = await self._presentable(user, code)
        if found is None:
            await self.close(code=4403)
            return
        self.session_id: int
        self._shown: int
        self.session_id, self._shown = found  # the page was rendered at or before this version: never go back
        self.user_id: int = user.pk  # type: ignore[union-attr]
        self._dirty = asyncio.Event()
        self._renderer: asyncio.Task[None] | None = None
        self._pending: tuple[int, str] | None = None
        self._forwarder: asyncio.Task[None] | None = None
        self._checked = time.monotonic()
        await self.join(presenter_group(self.session_id))
        self._ticker = asyncio.create_task(self._tick())

    async def disconnect(self, code: int) -> None:
        for task in (getattr(self, "_renderer", None), getattr(self, "_ticker", None),
                     getattr(self, "_forwarder", None)):
            if task is not None:
                task.cancel()
        await super().disconnect(code)

    async def _tick(self) -> None:
        """Votes per minute is a moving window: refresh the numbers now and then even when nobody votes (the map
        and its version change only with real updates)."""
        while True:
            await asyncio.sleep(self.tick_seconds)
            html = await self._render_stats()
            if html is None:
                await self.close(code=4403)
                return
            if html:
                await self.send(text_data=html)

    async def demo_updated(self, event: DemoUpdated) -> None:
        if event.get("session_id") != self.session_id:
            return
        html = event.get("html")
        if isinstance(html, str):
            # Rendered by the worker: keep only the newest (a higher version shows every lower one's change).
            version = int(event.get("version", 0))
            if version > max(self._shown, self._pending[0] if self._pending else 0):
                self._pending = (version, html)
                if self._forwarder is None or self._forwarder.done():
                    self._forwarder = asyncio.create_task(self._forward_loop())
            return
        # A burst of refits (a room voting at once) becomes one render of the newest state, not one per event.
        self._dirty.set()
        if self._renderer is None or self._renderer.done():
            self._renderer = asyncio.create_task(self._render_loop())

    async def _forward_loop(self) -> None:
        while self._pending is not None:
            version, html = self._pending
            self._pending = None
            if version <= self._shown:
                continue
            if time.monotonic() - self._checked > self.recheck_seconds:
                if not await self._still_presenter():
                    await self.close(code=4403)
                    return
                self._checked = time.monotonic()
            await self._show(version, html)
            await asyncio.sleep(self.forward_interval)

    async def _show(self, version: int, html: str) -> None:
        """Send a screen unless a newer one went out already (a render may show the version last forwarded)."""
        if version < self._shown:
            return
        self._shown = version
        await self.send(text_data=html)

    async def _render_loop(self) -> None:
        while self._dirty.is_set():
            self._dirty.clear()
            started = time.monotonic()
            # Off Channels' shared database thread: a busy room's renders must not queue every other socket's
            # connect and push behind them (the render opens and closes its own connection).
            rendered = await database_sync_to_async(self._render, thread_sensitive=False)()
            if rendered is None:  # no longer allowed (permission re-checked on every render)
                await self.close(code=4403)
                return
            await self._show(*rendered)
            took = time.monotonic() - started
            # at most one render per window, and never more than half the time when renders get slow
            await asyncio.sleep(max(self.render_interval - took, took))

    @database_sync_to_async
    def _presentable(self, user: Any, code: str) -> tuple[int, int] | None:
        if user is None or not user.is_authenticated:
            return None
        session = selectors.session_by_code(code=code)
        if session is None or not selectors.can_present(user=user, session=session):
            return None
        return int(session.pk), int(session.push_version)

    def _session(self) -> DemoSession | None:
        """The session, while this user may still present it (None once the session or the permission is gone)."""
        from django.contrib.auth import get_user_model

        session = presenter_session(session_id=self.session_id)
        user = get_user_model().objects.filter(pk=self.user_id).first()
        if session is None or user is None or not selectors.can_present(user=user, session=session):
            return None
        return session

    @database_sync_to_async
    def _still_presenter(self) -> bool:
        return self._session() is not None

    def _render(self) -> tuple[int, str] | None:
        session = self._session()
        return None if session is None else presenter_live(session=session)

    @database_sync_to_async
    def _render_stats(self) -> str | None:
        """The stats panel while the room can vote ("" otherwise: nothing moves); None when no longer allowed."""
        session = self._session()
        if session is None:
            return None
        if not session.accepts_votes:
            return ""
        return render_to_string("demos/_stats.html", {**selectors.presenter_stats(session=session), "oob": True})


class ParticipantConsumer(GroupConsumer):
    unsupported_message = "this socket only pushes; send nothing"

    async def connect(self) -> None:
        user = self.scope.get("user")
        code = str(self.scope["url_route"]["kwargs"]["code"])
        found = await self._participant(user, code)
        if found is None:
            await self.close(code=4403)
            return
        self.session_id, self.participant_id = found
        self.user_id: int = user.pk  # type: ignore[union-attr]
        self.code = code
        self.user_group = f"user.{self.user_id}"
        await self.channel_layer.group_add(self.user_group, self.channel_name)
        await self.join(room_group(self.session_id))

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "user_group"):
            await self.channel_layer.group_discard(self.user_group, self.channel_name)
        await super().disconnect(code)

    async def profile_updated(self, event: dict[str, Any]) -> None:
        """The participant's refit landed: their panel, prototype and showcase answer, out of band. The worker that
        refitted them sends the panel ready-made (``demo_panel``); other pushes (a re-clustering) are rendered here."""
        if event.get("user_id") != self.user_id or event.get("source") == "refit":
            return  # the refit's own push: the follower's push right after it brings the rendered panel
        html = event.get("demo_panel")
        if not isinstance(html, str) or event.get("participant_id") != self.participant_id:
            html = await self._render_live()
        if html is not None:
            await self.send(text_data=html)

    async def demo_stage(self, event: DemoStage) -> None:
        """The stage moved. Lobby → voting changes nothing but the label (the lobby already votes), so the page
        is told in place and a whole room does not reload at the moment everyone starts voting. Later stages
        change the body: the page fetches it (a GET, so forms carry a fresh CSRF token)."""
        if event.get("session_id") != self.session_id:
            return
        if event["stage"] == DemoSession.Stage.CLOSED:
            # Closing deactivates the guests before this message goes out, and a reload would find them logged
            # out: the ending goes to the page ready-made, then the socket ends normally (the page won't reconnect).
            if await self._in_session():
                await self.send(text_data=render_to_string("demos/closed.html#ended", {"oob": True}))
            await self.close(code=1000)
            return
        if not await self._still_participant():
            return
        if event["stage"] == DemoSession.Stage.VOTING:
            label = render_to_string("demos/room.html#stage", {"stage": event["stage"], "oob": True})
            await self.send(text_data=f'{label}<p id="demo-lobby" hx-swap-oob="delete"></p>')
            return
        url = reverse("demo-room", args=[self.code])
        await self.send(text_data=(
            f'<div id="demo-body" hx-swap-oob="true" hx-get="{url}" hx-trigger="load" hx-swap="outerHTML" '
            f'data-stage="{event["stage"]}"><p class="muted">The presenter moved on…</p></div>'))

    @database_sync_to_async
    def _participant(self, user: Any, code: str) -> tuple[int, int] | None:
        if user is None or not user.is_authenticated:
            return None
        session = selectors.session_by_code(code=code)
        if session is None:
            return None
        participant = selectors.participant_of(user=user, session=session)
        return None if participant is None else (int(session.pk), int(participant.pk))

    @database_sync_to_async
    def _in_session(self) -> bool:
        """Still a participant of this session, active or not (closing deactivates every guest)."""
        from webapp.demos.models import Participant

        return Participant.objects.filter(pk=self.participant_id, session_id=self.session_id).exists()

    @database_sync_to_async
    def _still_participant(self) -> bool:
        from webapp.demos.models import Participant

        return Participant.objects.filter(pk=self.participant_id, user__is_active=True).exists()

    @database_sync_to_async
    def _render_live(self) -> str | None:
        return participant_panel(participant_id=self.participant_id)
