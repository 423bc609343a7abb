"""Which tasks the broker still holds: waiting in a work class's queue, or delivered to a worker and not yet acked.

The job sweeper asks this before re-sending work, so a job that is only waiting its turn is left alone and a job
whose message is gone (a Redis restart without persistence, a purge) is re-sent at once. It reads the Redis
transport's own keys (kombu: one list per queue and priority step, the ``unacked`` hash with its ``unacked_index``
of delivery times); a delivered message counts as live only for as long as its task may run (its hard time limit),
because kombu gives a dead worker's messages back only after the visibility timeout (an hour).
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from workers import contracts
from workers.celery_app import app

log = logging.getLogger(__name__)

#: a delivered message outlives its task's hard time limit by at most this much before it counts as lost
UNACKED_MARGIN_SECONDS = 30.0
_PRIORITY_SEP = "\x06\x16"  # kombu.transport.redis.Channel.sep
_PRIORITY_STEPS = (3, 6, 9)  # the non-zero steps of kombu's default ``priority_steps``


class LiveTasks:
    """Task name → kwargs of each message the broker holds for it."""

    def __init__(self, found: dict[str, list[dict[str, Any]]]) -> None:
        self._found = found

    def has(self, name: str, **kwargs: Any) -> bool:
        """True when a message of task ``name`` whose kwargs include ``kwargs`` is waiting or running."""
        return any(
            all(str(sent.get(k)) == str(v) for k, v in kwargs.items()) for sent in self._found.get(name, ())
        )

    def count(self, name: str) -> int:
        return len(self._found.get(name, ()))


def _decoded(raw: bytes | str) -> tuple[str, dict[str, Any]] | None:
    """(task name, kwargs) of one kombu message as the Redis transport stores it (Celery protocol 2)."""
    try:
        message = json.loads(raw)
        headers = message.get("headers") or {}
        name = headers.get("task")
        body = message["body"]
        if (message.get("properties") or {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        payload = json.loads(body)
        kwargs = payload[1] if isinstance(payload, list) and len(payload) > 1 else {}
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(name, str) or not isinstance(kwargs, dict):
        return None
    return name, kwargs


def _time_limit(name: str) -> float:
    from django.conf import settings

    task = app.tasks.get(name)
    limit = getattr(task, "time_limit", None) if task is not None else None
    return float(limit or settings.CELERY_TASK_TIME_LIMIT)


def live_tasks(*, names: Iterable[str] | None = None, now: float | None = None) -> LiveTasks | None:
    """What the broker holds for ``names`` (default: every task); None when the broker cannot be read."""
    wanted = set(names) if names is not None else set(contracts.TASK_CLASS)
    now = time.time() if now is None else now
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    try:
        with app.connection_for_read() as connection:
            client = connection.default_channel.client
            keys = [
                key
                for work_class in contracts.WorkClass
                for key in (
                    str(work_class),
                    *(f"{work_class}{_PRIORITY_SEP}{step}" for step in _PRIORITY_STEPS),
                )
            ]
            pipe = client.pipeline()
            for key in keys:
                pipe.lrange(key, 0, -1)
            pipe.hgetall("unacked")
            pipe.zrange("unacked_index", 0, -1, withscores=True)
            *queued, unacked, delivered = pipe.execute()
    except Exception:  # a broker that cannot be read means: sweep nothing this time
        log.warning("job sweeper could not read the broker", exc_info=True)
        return None
    for messages in queued:
        for raw in messages:
            decoded = _decoded(raw)
            if decoded is not None and decoded[0] in wanted:
                found[decoded[0]].append(decoded[1])
    delivered_at = {(tag.decode() if isinstance(tag, bytes) else tag): score for tag, score in delivered}
    for tag, raw in unacked.items():
        try:
            message = json.loads(raw)[0]
        except (ValueError, IndexError, TypeError):
            continue
        decoded = _decoded(json.dumps(message))
        if decoded is None or decoded[0] not in wanted:
            continue
        at = delivered_at.get(tag.decode() if isinstance(tag, bytes) else tag)
        if at is not None and now - at > _time_limit(decoded[0]) + UNACKED_MARGIN_SECONDS:
            continue  # its worker died with it: kombu would only give it back after the visibility timeout
        found[decoded[0]].append(decoded[1])
    return LiveTasks(dict(found))
