"""What a worker process keeps between tasks: its PostgreSQL connection (per ``CONN_MAX_AGE``, as Django keeps
one between requests) and, for pushes, one event loop whose Redis connections the channel layer reuses."""

from __future__ import annotations

import threading

import pytest
import redis
from celery.fixups.django import DjangoWorkerFixup
from celery.signals import task_postrun, task_prerun
from django.conf import settings
from django.db import connection

from webapp import live
from workers.celery_app import app
from workers.tasks import profile_refit


def _between_tasks(fixup: DjangoWorkerFixup) -> None:
    """What a worker runs around a task: Celery's Django fixup, then every receiver of the task signals."""
    profile_refit.request.is_eager = False
    fixup.on_task_prerun(profile_refit)
    task_prerun.send(sender=profile_refit, task_id="t", task=profile_refit, args=(), kwargs={})
    fixup.on_task_postrun(profile_refit)
    task_postrun.send(sender=profile_refit, task_id="t", task=profile_refit, args=(), kwargs={}, retval=None,
                      state="SUCCESS")


@pytest.mark.django_db(transaction=True)
def test_a_worker_keeps_its_database_connection_between_tasks_for_conn_max_age(monkeypatch) -> None:
    fixup = DjangoWorkerFixup(app)
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    connection.close()
    connection.ensure_connection()
    raw = connection.connection
    for _ in range(3):
        _between_tasks(fixup)
    assert connection.connection is raw  # the same PostgreSQL session: its prepared statements survive

    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)
    connection.close()
    connection.ensure_connection()
    _between_tasks(fixup)
    assert connection.connection is None  # no reuse configured: closed after the task, as before


@pytest.fixture
def own_loop() -> object:
    live.loop_own()
    yield live._own
    if live._own is not None:
        live._own[0].close()
    live._own = None


def test_a_worker_process_pushes_on_one_loop_and_one_redis_connection(own_loop) -> None:
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    loop = own_loop[0]  # type: ignore[index]
    channel = loop.run_until_complete(layer.new_channel())
    loop.run_until_complete(layer.group_add("live-test", channel))
    server = redis.Redis.from_url(settings.REDIS_URL)
    before = int(server.info("stats")["total_connections_received"])
    for n in range(20):
        live.group_send("live-test", {"type": "test.message", "n": n})
    opened = int(server.info("stats")["total_connections_received"]) - before
    received = [loop.run_until_complete(layer.receive(channel))["n"] for _ in range(20)]
    assert received == list(range(20))
    assert opened <= 2  # async_to_sync would have opened a loop and a connection per send

    # another thread of the process (a progress callback, say) still sends, through async_to_sync
    sent = threading.Thread(target=live.group_send, args=("live-test", {"type": "test.message", "n": 99}))
    sent.start()
    sent.join(timeout=10)
    assert loop.run_until_complete(layer.receive(channel))["n"] == 99
    loop.run_until_complete(layer.group_discard("live-test", channel))


def test_a_worker_process_does_its_one_time_work_when_it_starts(own_loop) -> None:
    """What a fresh process's first refits used to pay (measured 200-450 ms each in a room's first second): the
    ML imports, torch's first fit, the templates a refit renders; and the loop its pushes use."""
    import sys

    from django.template import engines

    from workers.tasks import WARM_TEMPLATES, _child_start, _warm_up

    live._own = None
    cached = engines["django"].engine.template_loaders[0].loaders[0]  # django-template-partials wraps Django's
    cached.reset()  # forget what earlier tests compiled
    _warm_up()  # in the worker's main process, before the pool forks
    _child_start()  # in each child: its threads and its push loop
    assert "workers.refit" in sys.modules and live._own is not None
    assert set(WARM_TEMPLATES) <= set(cached.get_template_cache)
