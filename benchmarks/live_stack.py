"""The real processes a benchmark measures: uvicorn serving the ASGI app and one Celery worker (both queues)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def database_ensure(url: str) -> None:
    """Create the PostgreSQL database ``url`` names when it is missing (a SQLite URL needs nothing)."""
    if not url.startswith("postgres"):
        return
    import psycopg

    server, name = url.rsplit("/", 1)
    with psycopg.connect(server + "/postgres", autocommit=True) as conn:
        if not conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
            conn.execute(f'create database "{name}"')


def bench_users_setup(users: int, prefix: str) -> list[tuple[int, str]]:
    """Migrated database with the demo pool; ``users`` fresh token users named ``prefix<i>`` (earlier runs'
    users of that prefix deleted). Returns (user id, API token) pairs."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from webapp.catalog.models import Prompt

    call_command("migrate", verbosity=0)
    if Prompt.objects.count() < 60:
        call_command("load_demo_data", verbosity=0)
    model = get_user_model()
    model.objects.filter(username__startswith=prefix).delete()
    made = []
    for i in range(users):
        user = model.objects.create(username=f"{prefix}{i}")
        made.append((user.pk, Token.objects.create(user=user).key))
    return made


def redis_flush(env: dict[str, str]) -> None:
    """Empty the Redis database of ``env['REDIS_URL']`` (queued tasks, channel groups) before a run."""
    subprocess.run([sys.executable, "-c", "import redis,os; redis.Redis.from_url(os.environ['REDIS_URL']).flushdb()"],
                   env=env, check=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_stack(env: dict[str, str], worker_concurrency: int = 1, web_workers: int = 1,
               beat: bool = False) -> Iterator[str]:
    """Start web (``web_workers`` uvicorn processes behind one port, pooled database connections) and one
    worker per work class: realtime (refits, pushes; ``worker_concurrency`` processes), interactive and batch
    (one process each) and maintenance (a thread pool, as in supervisord.conf), all with persistent database
    connections; with ``beat``, ``celery beat`` as its own process, so the reconciler runs. Wait until the web
    answers and the workers have connected; yield the base URL; stop everything afterwards."""
    import requests

    port = free_port()
    bin_dir = Path(sys.executable).parent
    web = subprocess.Popen([str(bin_dir / "uvicorn"), "webapp.asgi:application", "--port", str(port),
                            "--no-access-log", "--log-level", "warning", "--workers", str(web_workers)],
                           cwd=ROOT, env={"DB_POOL": "true", **env})
    workers = [
        subprocess.Popen([str(bin_dir / "celery"), "-A", "workers.celery_app", "worker", "-Q", queue, "-n",
                          f"{queue}@%h", "--concurrency", str(concurrency), *pool, "--loglevel", "WARNING",
                          "--without-mingle", "--without-gossip"],
                         cwd=ROOT, env={"DB_CONN_MAX_AGE": "60", **env})
        for queue, concurrency, pool in (("realtime", worker_concurrency, ()), ("interactive", 1, ()),
                                         ("batch", 1, ()), ("maintenance", 4, ("--pool", "threads")))
    ]
    if beat:
        schedule = Path(env.get("TAILOR_HOME", ROOT / "var")) / "celerybeat-schedule"
        workers.append(subprocess.Popen([str(bin_dir / "celery"), "-A", "workers.celery_app", "beat", "--loglevel",
                                         "WARNING", "--schedule", str(schedule)], cwd=ROOT, env=env))
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(f"{base}/healthz", timeout=1)
                break
            except (requests.ConnectionError, requests.Timeout):  # a busy machine answers late
                time.sleep(0.2)
        time.sleep(3)  # let the worker connect to the broker
        yield base
    finally:
        web.terminate()
        for worker in workers:
            worker.terminate()
        web.wait(10)
        for worker in workers:
            worker.wait(60)
