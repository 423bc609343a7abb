"""A running job's heartbeat: a thread of the worker touches the job's ``heartbeat_at`` while the job's body runs.

The body itself may spend a minute in one batched generation with no place to report from; the thread keeps
beating as long as the worker process lives, and stops with it (a killed worker, a hard time limit, a restart).
A job whose heartbeat stopped is what the job sweeper (``workers.sweeper``) re-sends or fails. A job that is
alive but stuck is bounded by its task's time limits, not by the heartbeat.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connections, models
from django.utils import timezone

log = logging.getLogger(__name__)


@contextmanager
def job_heartbeat(model: type[models.Model], pk: object, *, every: float | None = None) -> Iterator[None]:
    """Touch ``model`` row ``pk``'s ``heartbeat_at`` every ``every`` seconds (``JOBS_HEARTBEAT_SECONDS``) while
    the block runs, as long as the row is still running."""
    interval = float(every if every is not None else settings.JOBS_HEARTBEAT_SECONDS)
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(interval):
                try:
                    model._default_manager.filter(pk=pk, status="running").update(heartbeat_at=timezone.now())
                except Exception:  # a missed beat is retried; the job itself must not fail for it
                    log.warning("heartbeat of %s %s failed", model.__name__, pk, exc_info=True)
        finally:
            connections.close_all()  # this thread's own connections

    thread = threading.Thread(target=beat, name=f"heartbeat-{pk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)
