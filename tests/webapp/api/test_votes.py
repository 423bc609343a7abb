"""Votes over the API: one vote per Idempotency-Key, even under concurrent requests; bad input is refused."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection

from tests.factories import PairFactory, UserFactory
from tests.webapp.api.conftest import token_client
from webapp.votes.models import Vote


def _post(client, pair_id: int, key: str | None, **body):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post("/api/v1/votes/", {"pair": pair_id, "choice": "left", **body}, format="json", **headers)


@pytest.mark.django_db
def test_resending_a_vote_with_its_key_returns_the_stored_vote() -> None:
    pair = PairFactory()
    client = token_client(pair.user)
    key = str(uuid.uuid4())
    first = _post(client, pair.pk, key, strength=3, rationale="shorter")
    again = _post(client, pair.pk, key, choice="right")  # a replay is the stored vote, whatever its body
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and again.json()["choice"] == "left"
    assert first.json()["idempotency_key"] == key and first.json()["strength"] == 3
    assert Vote.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(("key", "body", "field"), [
    (None, {}, "Idempotency-Key"),
    ("not-a-uuid", {}, "Idempotency-Key"),
    ("uuid", {"choice": "maybe"}, "choice"),
    ("uuid", {"strength": 9}, "strength"),
    ("uuid", {"rationale": "x" * 281}, "rationale"),
    ("uuid", {"time_to_vote_ms": -1}, "time_to_vote_ms"),
    ("uuid", {"pair": "seven"}, "pair"),
])
def test_bad_votes_are_refused_with_the_field_named_and_nothing_stored(key, body, field) -> None:
    pair = PairFactory()
    response = _post(token_client(pair.user), pair.pk, str(uuid.uuid4()) if key == "uuid" else key, **body)
    assert response.status_code == 400
    assert field in response.json()
    assert not Vote.objects.exists()


@pytest.mark.django_db
def test_a_second_vote_on_a_voted_pair_is_a_conflict() -> None:
    pair = PairFactory()
    client = token_client(pair.user)
    assert _post(client, pair.pk, str(uuid.uuid4())).status_code == 201
    response = _post(client, pair.pk, str(uuid.uuid4()), choice="right")
    assert response.status_code == 409 and "already voted" in response.json()["detail"]
    assert Vote.objects.get().choice == "left"


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_store_one_vote() -> None:
    """Eight threads, each with its own PostgreSQL connection, send the same vote at the same moment."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrency is tested on PostgreSQL")
    pair = PairFactory()
    key = str(uuid.uuid4())
    barrier = threading.Barrier(8)
    statuses: list[int] = []
    ids: set[int] = set()
    lock = threading.Lock()

    def send() -> None:
        from django.db import connections

        client = token_client(pair.user)
        try:
            barrier.wait(timeout=10)
            response = _post(client, pair.pk, key)
            with lock:
                statuses.append(response.status_code)
                if response.status_code in (200, 201):
                    ids.add(response.json()["id"])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(statuses) == [200] * 7 + [201]
    assert len(ids) == 1
    assert Vote.objects.filter(pair=pair).count() == 1


@pytest.mark.django_db
def test_vote_creation_is_throttled_per_user(settings) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "votes": "3/min"}}
    user = UserFactory()
    client = token_client(user)
    codes = [_post(client, PairFactory(user=user).pk, str(uuid.uuid4())).status_code for _ in range(4)]
    assert codes == [201, 201, 201, 429]
    assert Vote.objects.count() == 3
    other = UserFactory()
    assert _post(token_client(other), PairFactory(user=other).pk, str(uuid.uuid4())).status_code == 201


@pytest.mark.django_db
def test_token_requests_are_throttled(settings) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "auth": "2/min"}}
    UserFactory(username="carol")
    client = token_client(None)
    body = {"username": "carol", "password": "wrong"}
    codes = [client.post("/api/v1/auth/token/", body, format="json").status_code for _ in range(3)]
    assert codes == [400, 400, 429]


@pytest.mark.django_db
def test_a_token_from_the_api_authenticates_later_requests() -> None:
    UserFactory(username="dave")
    anonymous = token_client(None)
    token = anonymous.post("/api/v1/auth/token/", {"username": "dave", "password": "correct-horse-battery"},
                           format="json").json()["token"]
    anonymous.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert anonymous.get("/api/v1/profile/").status_code == 200


@pytest.mark.django_db
def test_next_pair_is_the_pending_one_until_voted() -> None:
    pair = PairFactory()
    client = token_client(pair.user)
    shown = client.get("/api/v1/pairs/next/").json()
    assert shown["id"] == pair.pk and shown["left"]["text"] == pair.left.text
    assert client.get("/api/v1/pairs/next/").json()["id"] == pair.pk
    _post(client, pair.pk, str(uuid.uuid4()))
    assert client.get("/api/v1/pairs/next/").status_code == 204  # nothing else to ask in this catalog
