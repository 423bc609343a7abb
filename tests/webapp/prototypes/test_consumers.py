from __future__ import annotations

import re

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from tests.conftest import ws_communicator
from tests.factories import UserFactory
from webapp.asgi import application
from webapp.prototypes.selectors import prototype_map
from webapp.prototypes.services import STAFF_GROUP

PATH = "/ws/staff/prototypes/"


async def _staff_socket(user) -> WebsocketCommunicator:
    ws = await ws_communicator(user, PATH)
    connected, _ = await ws.connect(timeout=10)
    assert connected
    return ws


async def _messages_until(ws, predicate, timeout: float = 30.0) -> list[str]:
    """Everything the socket sends until one message satisfies ``predicate``."""
    import asyncio

    received: list[str] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        message = await ws.receive_from(timeout=max(deadline - loop.time(), 0.1))
        received.append(message)
        if predicate(message):
            return received
    raise AssertionError(f"no matching message among {len(received)}")


@pytest.mark.django_db(transaction=True)
async def test_staff_socket_gets_progress_and_the_new_map_after_a_refit() -> None:
    from tests.workers.test_prototype_review import two_groups_of_users
    from workers.learning import prototypes_refit_run

    staff = await sync_to_async(UserFactory)(is_staff=True)
    ws = await _staff_socket(staff)
    await sync_to_async(two_groups_of_users)()
    assert await sync_to_async(prototypes_refit_run)() == 2
    received = await _messages_until(ws, lambda m: 'id="prototype-list"' in m)
    assert any('data-testid="review-progress"' in m and "clustering" in m for m in received)
    final = received[-1]
    expected = await sync_to_async(prototype_map)()
    assert 'hx-swap-oob="true"' in final and f'data-version="{expected["version"]}"' in final
    assert final.count('data-testid="map-point"') == 12 and final.count('data-testid="map-prototype"') == 2
    assert 'id="prototype-audit"' in final
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_burst_of_profile_updates_renders_the_map_once() -> None:
    staff = await sync_to_async(UserFactory)(is_staff=True)
    ws = await _staff_socket(staff)
    for _ in range(20):
        await get_channel_layer().group_send(STAFF_GROUP, {"type": "prototypes.map"})
    html = await ws.receive_from(timeout=5)
    assert re.search(r'data-testid="prototype-map"\s+data-version="\d+"', html)
    assert await ws.receive_nothing(timeout=0.6)  # coalesced, and an unchanged map is not sent again
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_non_staff_and_anonymous_sockets_are_refused() -> None:
    user = await sync_to_async(UserFactory)()
    ws = await ws_communicator(user, PATH)
    connected, code = await ws.connect(timeout=10)
    assert not connected and code == 4403
    anonymous = WebsocketCommunicator(application, PATH, headers=[(b"origin", b"http://127.0.0.1"),
                                                                  (b"host", b"127.0.0.1")])
    connected, code = await anonymous.connect(timeout=10)
    assert not connected and code == 4403


@pytest.mark.django_db(transaction=True)
async def test_staff_rights_are_checked_again_on_every_event() -> None:
    from django.contrib.auth import get_user_model

    staff = await sync_to_async(UserFactory)(is_staff=True)
    ws = await _staff_socket(staff)
    await get_channel_layer().group_send(STAFF_GROUP, {"type": "prototypes.progress", "job": "refit",
                                                       "stage": "clustering", "done": 2, "total": 4})
    assert "refit: clustering" in await ws.receive_from(timeout=5)
    await sync_to_async(get_user_model().objects.filter(pk=staff.pk).update)(is_staff=False)
    await get_channel_layer().group_send(STAFF_GROUP, {"type": "prototypes.updated"})
    await get_channel_layer().group_send(STAFF_GROUP, {"type": "prototypes.progress", "job": "refit",
                                                       "stage": "done", "done": 4, "total": 4})
    assert await ws.receive_nothing(timeout=0.6)
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_users_profile_refit_moves_their_point_on_the_staff_map() -> None:
    import uuid

    from tests.factories import PromptFactory, ResponseFactory, refit_and_follow
    from webapp.votes import services as vote_services

    def vote() -> int:
        user = UserFactory(username="voter")
        prompt = PromptFactory()
        left, right = ResponseFactory(prompt=prompt), ResponseFactory(prompt=prompt)
        pair = vote_services.pair_create(user=user, left=left, right=right, source="random")
        vote_services.vote_record(user=user, pair_id=pair.pk, idempotency_key=uuid.uuid4(), choice="left")
        return user.pk

    staff = await sync_to_async(UserFactory)(is_staff=True)
    ws = await _staff_socket(staff)
    user_id = await sync_to_async(vote)()
    assert await ws.receive_nothing(timeout=0.3)  # stored, not refitted yet: nothing moved
    assert await sync_to_async(refit_and_follow)(user_id=user_id) == 1
    html = await ws.receive_from(timeout=10)
    assert f'data-user="{user_id}"' in html and "<title>voter · 1 vote · no prototype yet" in html
    await ws.disconnect()
