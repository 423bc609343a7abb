from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from tests.conftest import ws_communicator
from tests.factories import UserFactory
from webapp.asgi import application


async def _connect(user) -> WebsocketCommunicator:
    communicator = await ws_communicator(user, "/ws/profile/")
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    return communicator


@pytest.mark.django_db(transaction=True)
async def test_only_the_owner_receives_their_profile_update() -> None:
    alice, bob = await sync_to_async(UserFactory)(), await sync_to_async(UserFactory)()
    alice_ws, bob_ws = await _connect(alice), await _connect(bob)
    await get_channel_layer().group_send(f"user.{alice.pk}", {"type": "profile.updated", "user_id": alice.pk,
                                                              "version": 1})
    html = await alice_ws.receive_from(timeout=5)
    assert 'data-testid="profile-panel"' in html and 'hx-swap-oob="true"' in html
    assert await bob_ws.receive_nothing(timeout=0.5)
    await alice_ws.disconnect()
    await bob_ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_an_event_for_another_user_is_not_rendered() -> None:
    alice, bob = await sync_to_async(UserFactory)(), await sync_to_async(UserFactory)()
    alice_ws = await _connect(alice)
    # A forged event on alice's group naming bob is dropped: the handler re-checks the user on every event.
    await get_channel_layer().group_send(f"user.{alice.pk}", {"type": "profile.updated", "user_id": bob.pk,
                                                              "version": 1})
    assert await alice_ws.receive_nothing(timeout=0.5)
    await alice_ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_anonymous_socket_is_refused() -> None:
    communicator = WebsocketCommunicator(application, "/ws/profile/",
                                         headers=[(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")])
    connected, code = await communicator.connect(timeout=10)
    assert not connected and code == 4401


@pytest.mark.django_db(transaction=True)
async def test_unsupported_client_message_gets_a_clear_error() -> None:
    user = await sync_to_async(UserFactory)()
    ws = await _connect(user)
    await ws.send_to(text_data="{not json")
    reply = json.loads(await ws.receive_from(timeout=5))
    assert reply["type"] == "error" and "ping" in reply["error"]
    await ws.send_to(text_data=json.dumps({"type": "ping"}))
    assert json.loads(await ws.receive_from(timeout=5)) == {"type": "pong"}
    await ws.disconnect()
