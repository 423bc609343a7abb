from __future__ import annotations

import re

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from tests.conftest import ws_communicator
from tests.factories import UserFactory
from tests.webapp.demos.factories_demo import join, presenter, scored_pool, session
from webapp.asgi import application
from webapp.demos import services

pytestmark = pytest.mark.django_db(transaction=True)


async def _room() -> tuple[object, object]:
    await sync_to_async(scored_pool)(prompts=2)
    demo = await sync_to_async(session)()
    ada = await sync_to_async(join)(demo, "Ada")
    return demo, ada


async def _connected(user: object, path: str) -> WebsocketCommunicator:
    ws = await ws_communicator(user, path)
    connected, code = await ws.connect(timeout=10)
    assert connected, code
    return ws


async def _refused(user: object | None, path: str) -> int:
    if user is None:
        ws = WebsocketCommunicator(application, path, headers=[(b"origin", b"http://127.0.0.1"),
                                                               (b"host", b"127.0.0.1")])
    else:
        ws = await ws_communicator(user, path)
    connected, code = await ws.connect(timeout=10)
    assert not connected
    return code


async def test_presenter_screen_gets_each_push_with_a_higher_map_version() -> None:
    demo, _ = await _room()
    ws = await _connected(demo.presenter, f"/ws/demo/{demo.code}/present/")
    versions = []
    for _ in range(2):
        sent = await sync_to_async(services.presenter_push)(session_id=demo.pk, reason="test")
        html = await ws.receive_from(timeout=10)
        assert 'data-testid="participant-count">1<' in html and 'hx-swap-oob="true"' in html
        version = int(re.search(r'data-testid="prototype-map"\s+data-version="(\d+)"', html).group(1))
        assert version == sent
        versions.append(version)
    assert versions[1] > versions[0]
    await ws.disconnect()


async def test_a_join_is_pushed_to_the_presenter() -> None:
    demo, _ = await _room()
    ws = await _connected(demo.presenter, f"/ws/demo/{demo.code}/present/")
    await sync_to_async(join)(demo, "Bob")  # the web pushes after the join commits
    html = await ws.receive_from(timeout=10)
    assert 'data-testid="participant-count">2<' in html and "Bob" in html
    await ws.disconnect()


async def test_only_the_presenter_can_open_the_presenter_socket() -> None:
    demo, ada = await _room()
    path = f"/ws/demo/{demo.code}/present/"
    assert await _refused(ada.user, path) == 4403  # a participant cannot join the presenter group
    other_staff = await sync_to_async(presenter)()
    assert await _refused(other_staff, path) == 4403
    assert await _refused(None, path) == 4403
    assert await _refused(demo.presenter, "/ws/demo/ZZZZZZZZ/present/") == 4403


async def test_participants_hear_stage_changes_but_not_the_presenter_stream() -> None:
    demo, ada = await _room()
    ws = await _connected(ada.user, f"/ws/demo/{demo.code}/")
    await sync_to_async(services.presenter_push)(session_id=demo.pk, reason="test")
    assert await ws.receive_nothing(timeout=0.5)  # the presenter's group is not theirs
    await sync_to_async(services.session_stage_advance)(session_id=demo.pk, user=demo.presenter, to_stage="voting")
    html = await ws.receive_from(timeout=10)
    # voting opens in place: the stage label and the lobby note change, nothing is fetched (the lobby votes already)
    assert 'id="demo-stage"' in html and 'data-stage="voting"' in html and ">voting</strong>" in html
    assert 'id="demo-lobby" hx-swap-oob="delete"' in html and "hx-get" not in html
    await sync_to_async(services.session_stage_advance)(session_id=demo.pk, user=demo.presenter, to_stage="reveal")
    html = await ws.receive_from(timeout=10)  # the reveal changes the body: the page fetches it
    assert 'id="demo-body"' in html and f'hx-get="/demo/{demo.code}/"' in html and 'data-stage="reveal"' in html
    await ws.disconnect()


async def test_a_participant_refit_updates_their_own_panel_only() -> None:
    demo, ada = await _room()
    bob = await sync_to_async(join)(demo, "Bob")
    ada_ws = await _connected(ada.user, f"/ws/demo/{demo.code}/")
    bob_ws = await _connected(bob.user, f"/ws/demo/{demo.code}/")
    await get_channel_layer().group_send(f"user.{ada.user_id}", {"type": "profile.updated", "user_id": ada.user_id,
                                                                 "version": 1})
    html = await ada_ws.receive_from(timeout=10)  # a push without a panel (a re-clustering): rendered here
    assert 'data-testid="profile-panel"' in html and 'id="demo-me"' in html and 'data-testid="showcase-answer"' in html
    assert await bob_ws.receive_nothing(timeout=0.5)
    # the refitting worker sends Ada's panel ready-made: forwarded as it is, to Ada only
    await get_channel_layer().group_send(f"user.{ada.user_id}", {
        "type": "profile.updated", "user_id": ada.user_id, "version": 2, "participant_id": ada.pk,
        "demo_panel": '<section id="demo-me" hx-swap-oob="true">rendered by the worker</section>'})
    assert "rendered by the worker" in await ada_ws.receive_from(timeout=10)
    assert await bob_ws.receive_nothing(timeout=0.5)
    await ada_ws.disconnect()
    await bob_ws.disconnect()


async def test_outsiders_cannot_open_a_participant_socket() -> None:
    demo, _ = await _room()
    stranger = await sync_to_async(UserFactory)()
    assert await _refused(stranger, f"/ws/demo/{demo.code}/") == 4403
    assert await _refused(None, f"/ws/demo/{demo.code}/") == 4403
    assert await _refused(demo.presenter, f"/ws/demo/{demo.code}/") == 4403


async def test_a_closed_session_stops_pushing_to_its_guests() -> None:
    demo, ada = await _room()
    ws = await _connected(ada.user, f"/ws/demo/{demo.code}/")
    for stage in ("voting", "reveal"):
        await sync_to_async(services.session_stage_advance)(session_id=demo.pk, user=demo.presenter, to_stage=stage)
        assert f'data-stage="{stage}"' in await ws.receive_from(timeout=10)
    await sync_to_async(services.session_stage_advance)(session_id=demo.pk, user=demo.presenter, to_stage="closed")
    # the close itself reaches the phone at once, ready to show (a reload would find the guest logged out) ...
    html = await ws.receive_from(timeout=10)
    assert 'id="demo-body"' in html and 'data-stage="closed"' in html and "hx-get" not in html
    assert 'data-testid="stage"' in html and ">closed<" in html
    # ... and then the socket ends normally (no reconnect), so nothing more reaches the deactivated guest
    assert (await ws.receive_output(timeout=10))["type"] == "websocket.close"


async def test_the_numbers_refresh_while_voting_without_touching_the_map(monkeypatch) -> None:
    from webapp.demos.consumers import PresenterConsumer

    monkeypatch.setattr(PresenterConsumer, "tick_seconds", 0.3)
    demo, _ = await _room()
    await sync_to_async(services.session_stage_advance)(session_id=demo.pk, user=demo.presenter, to_stage="voting")
    ws = await _connected(demo.presenter, f"/ws/demo/{demo.code}/present/")
    html = await ws.receive_from(timeout=10)
    assert 'data-testid="votes-per-minute">0<' in html and 'id="demo-stats"' in html
    assert "prototype-map" not in html  # a refresh is not an update: the map and its version stay
    await ws.disconnect()


def _map_version(html: str) -> int:
    return int(re.search(r'data-testid="prototype-map"\s+data-version="(\d+)"', html).group(1))


async def test_a_screen_rendered_by_the_worker_is_forwarded_newest_first_and_never_goes_back() -> None:
    """After a refit the worker renders the presenter screen and the socket only forwards it; a screen older than
    one already shown (or than the page the presenter opened) is dropped, so ``data-version`` never decreases."""
    demo, _ = await _room()
    stale = await sync_to_async(services.presenter_push)(session_id=demo.pk, reason="test", rendered=True)
    ws = await _connected(demo.presenter, f"/ws/demo/{demo.code}/present/")  # opened after that push
    sent = await sync_to_async(services.presenter_push)(session_id=demo.pk, reason="refit", rendered=True)
    html = await ws.receive_from(timeout=10)
    assert _map_version(html) == sent > stale
    assert 'data-testid="participant-count">1<' in html and 'hx-swap-oob="true"' in html
    layer = get_channel_layer()
    for old in (stale, sent):  # late deliveries of screens already covered
        await layer.group_send(services.presenter_group(demo.pk), {
            "type": "demo.updated", "session_id": demo.pk, "version": old, "reason": "refit", "html": "old"})
    assert await ws.receive_nothing(timeout=0.5)
    await ws.disconnect()


async def test_forwarding_stops_when_the_presenter_loses_the_right_to_present(monkeypatch) -> None:
    from webapp.demos.consumers import PresenterConsumer

    monkeypatch.setattr(PresenterConsumer, "recheck_seconds", 0.0)
    demo, _ = await _room()
    ws = await _connected(demo.presenter, f"/ws/demo/{demo.code}/present/")
    await sync_to_async(type(demo.presenter).objects.filter(pk=demo.presenter.pk).update)(is_staff=False)
    await sync_to_async(services.presenter_push)(session_id=demo.pk, reason="refit", rendered=True)
    assert (await ws.receive_output(timeout=10))["type"] == "websocket.close"
    await ws.disconnect()
