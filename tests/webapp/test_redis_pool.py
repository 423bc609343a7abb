"""Django's cache keeps one Redis connection pool per process, whatever thread or request context reads it."""

from __future__ import annotations

import threading


def _pool_after_a_round_trip() -> object:
    from django.core.cache import caches

    cache = caches["default"]
    cache.set("redis-pool-check", 1)
    assert cache.get("redis-pool-check") == 1
    return cache._cache._get_connection_pool(write=True)


def test_every_thread_reuses_the_process_pool_and_its_open_connection() -> None:
    first = _pool_after_a_round_trip()
    opened = first._created_connections  # type: ignore[attr-defined]
    pools: list[object] = []
    for _ in range(3):  # under ASGI each request runs on a new thread in a new context: a new cache object
        thread = threading.Thread(target=lambda: pools.append(_pool_after_a_round_trip()))
        thread.start()
        thread.join()

    assert all(pool is first for pool in pools)
    assert first._created_connections == opened  # type: ignore[attr-defined]  # no new TCP connection
