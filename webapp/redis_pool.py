"""One Redis connection pool per process for Django's cache.

Django keeps a cache object per thread and async context (``django.core.cache.caches`` is an asgiref ``Local``), and
each cache object makes its own connection pool. Under ASGI every request runs in a context of its own on a thread
of its own, so every request that touched the cache (each vote POST: its throttle reads and writes a counter) made a
new pool and opened a new TCP connection to Redis. Handing every cache object of the process the same pool keeps the
connections open across requests; redis-py pools are thread-safe and reset themselves in a forked child.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

import redis


class ProcessConnectionPool(redis.ConnectionPool):
    """``pool_class`` for Django's ``RedisCache``: ``from_url`` returns the process's pool for that URL and options."""

    _process_pools: ClassVar[dict[tuple[str, str], redis.ConnectionPool]] = {}
    _process_lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> redis.ConnectionPool:  # type: ignore[override]
        key = (url, repr(sorted(kwargs.items())))
        with cls._process_lock:
            pool = cls._process_pools.get(key)
            if pool is None:
                pool = cls._process_pools[key] = redis.ConnectionPool.from_url(url, **kwargs)
            return pool
