"""The deployment files are valid: compose config resolves with the required variables set."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _compose() -> list[str]:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    pytest.fail("neither `docker compose` nor `docker-compose` is installed (.ci/run installs docker-compose)")


def test_compose_file_is_valid_and_has_every_service() -> None:
    env = {**os.environ, "POSTGRES_PASSWORD": "pw", "SECRET_KEY": "s" * 40}
    result = subprocess.run([*_compose(), "-f", "docker/compose.yaml", "config", "--services"], cwd=ROOT,
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert {"postgres", "redis", "web", "worker-gpu", "worker-batch", "worker-realtime", "worker-maintenance", "beat"} <= set(
        result.stdout.split())


def test_compose_refuses_to_start_without_a_secret_key() -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "POSTGRES_PASSWORD"}}
    result = subprocess.run([*_compose(), "-f", "docker/compose.yaml", "config"], cwd=ROOT, capture_output=True,
                            text=True, env=env, timeout=60)
    assert result.returncode != 0


def test_every_long_running_compose_service_restarts_itself_and_every_work_class_is_served() -> None:
    """A process that dies comes back by itself; each work class has its own worker service."""
    import yaml

    services = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())["services"]
    for name, service in services.items():
        if name != "migrate":
            assert service.get("restart") == "unless-stopped", name
    queues = {service["command"][service["command"].index("-Q") + 1] for service in services.values()
              if "command" in service and "-Q" in service["command"]}
    from workers.contracts import WorkClass

    assert queues == {str(work_class) for work_class in WorkClass}
