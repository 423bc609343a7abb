"""Process-level guarantees: the web process stays light; production refuses unsafe settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_WEB_PROCESS = """
import sys, django
django.setup()
from django.test import Client
from django.test.utils import setup_test_environment
import webapp.asgi, webapp.urls  # everything the ASGI server imports
from django.urls import resolve
for path in ("/", "/vote/", "/me/", "/accounts/login/", "/accounts/signup/", "/api/v1/votes/", "/api/schema/"):
    resolve(path)
response = Client().get("/accounts/login/")
assert response.status_code == 200, response.status_code
heavy = sorted(m for m in ("torch", "transformers", "personalization", "datasets", "pyarrow") if m in sys.modules)
print("HEAVY:" + ",".join(heavy))
"""


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def test_web_process_never_imports_torch_or_the_ml_library(tmp_path) -> None:
    result = _run(_WEB_PROCESS, DJANGO_SETTINGS_MODULE="webapp.settings.base", TAILOR_HOME=str(tmp_path),
                  DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3")
    assert result.returncode == 0, result.stderr
    assert "HEAVY:\n" in result.stdout, result.stdout


def _production(**env: str) -> subprocess.CompletedProcess[str]:
    base = {"DJANGO_SETTINGS_MODULE": "webapp.settings.production", "DATABASE_URL": "postgres://x@127.0.0.1/x",
            "REDIS_URL": "redis://127.0.0.1:6379/0", "DEBUG": "false", "SECRET_KEY": "k" * 50}
    return _run("import django; django.setup(); print('STARTED')", **{**base, **env})


def test_production_refuses_the_default_secret_key() -> None:
    result = _production(SECRET_KEY="tailor-insecure-development-key-change-me")
    assert result.returncode != 0 and "SECRET_KEY" in result.stderr


def test_production_refuses_debug() -> None:
    result = _production(DEBUG="true")
    assert result.returncode != 0 and "DEBUG" in result.stderr


def test_production_starts_with_safe_settings() -> None:
    assert "STARTED" in _production().stdout


def test_bad_database_url_fails_loudly() -> None:
    result = _run("import django; django.setup()", DJANGO_SETTINGS_MODULE="webapp.settings.base",
                  DATABASE_URL="mysql://nope@127.0.0.1/x")
    assert result.returncode != 0 and "DATABASE_URL" in result.stderr
