"""Fixed-window counters in Django's cache (Redis), shared by every web process: join attempts per IP and per
session. A counter that is over its limit refuses the attempt before any lookup, so guessing codes is slow."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.cache import cache


@dataclass(frozen=True)
class Limit:
    key: str
    limit: int
    window_seconds: int


def _key(key: str) -> str:
    return f"demo:join:{key}"


def limit_exceeded(*limits: Limit) -> bool:
    """Whether any counter is already at its limit (nothing is counted)."""
    values = cache.get_many([_key(lim.key) for lim in limits])
    return any(int(values.get(_key(lim.key), 0)) >= lim.limit for lim in limits)


def limit_hit(limit: Limit) -> int:
    """Count one event in ``limit``'s window; return the count so far (the window starts at the first event)."""
    key = _key(limit.key)
    cache.add(key, 0, timeout=limit.window_seconds)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr: start a new window
        cache.set(key, 1, timeout=limit.window_seconds)
        return 1
