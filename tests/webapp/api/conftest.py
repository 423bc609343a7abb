"""Four callers for every endpoint: anonymous, user A, user B (A's data must stay A's) and staff, each with a
DRF token, as a script would call the API."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import UserFactory


@dataclass
class Caller:
    name: str
    user: object | None
    client: APIClient


def token_client(user: object | None) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture(autouse=True)
def _throttle_counters_reset() -> Iterator[None]:
    """Throttle counters live in the shared Redis cache and user ids repeat across test databases: start each
    test from zero (only the throttle keys; the broker shares the Redis database)."""
    from django.core.cache import cache

    def clear() -> None:
        client = cache._cache.get_client()  # type: ignore[attr-defined]
        keys = list(client.scan_iter(match="*throttle_*"))
        if keys:
            client.delete(*keys)

    clear()
    yield
    clear()


@pytest.fixture
def callers(db: None) -> dict[str, Caller]:
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    staff = UserFactory(username="staff", is_staff=True)
    return {
        "anonymous": Caller("anonymous", None, token_client(None)),
        "alice": Caller("alice", alice, token_client(alice)),
        "bob": Caller("bob", bob, token_client(bob)),
        "staff": Caller("staff", staff, token_client(staff)),
    }
