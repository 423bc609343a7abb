from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def join_counters_clean() -> Iterator[None]:
    """Rate-limit counters live in Redis across tests (every test client is 127.0.0.1): start each test at zero.
    Only this feature's keys are deleted; the rest of the Redis db (broker, channel layer) is left alone."""
    from django.core.cache import cache

    def clean() -> None:
        client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
        keys = list(client.scan_iter(match="*demo:join:*"))
        if keys:
            client.delete(*keys)

    clean()
    yield
    clean()
