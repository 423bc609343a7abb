"""Sending to Channels groups from synchronous code: the web's views and the workers' tasks push through here.

In the web process a sync view runs in a thread asgiref started from the server's event loop, and
``async_to_sync`` sends on that loop. A Celery worker process has no such loop: there ``async_to_sync`` starts a
thread and a new event loop for every send, and ``channels_redis`` (which keeps its Redis connections per loop)
opens and drops a connection each time. A refit sends three messages, so a worker process calls
:func:`loop_own` once when it starts and sends on that one loop from then on, on its own thread.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

_own: tuple[asyncio.AbstractEventLoop, int] | None = None


def loop_own() -> None:
    """Keep one event loop for this process's sends, run by the calling thread (a worker process's main thread,
    after the fork). Other threads of the process still send through ``async_to_sync``."""
    global _own
    if _own is not None:
        _own[0].close()
    _own = (asyncio.new_event_loop(), threading.get_ident())


def group_send(group: str, message: dict[str, Any]) -> None:
    """Send ``message`` to every socket in ``group`` (nothing when no channel layer is configured)."""
    layer = get_channel_layer()
    if layer is None:
        return
    if _own is not None and _own[1] == threading.get_ident() and not _own[0].is_running():
        _own[0].run_until_complete(layer.group_send(group, message))
    else:
        async_to_sync(layer.group_send)(group, message)
