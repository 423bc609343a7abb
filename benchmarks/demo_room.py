"""A live demo room under load: 100 participants join by code, hold a websocket each and vote over HTTP while the
presenter screen listens; reports vote → presenter-screen update latency and the server processes' CPU.

Runs the real stack (uvicorn and the default-queue and gpu Celery workers via ``live_stack``, PostgreSQL, Redis) on
loopback. Each participant joins through /demo/join/, loads the room page it is sent to (as a browser follows the
redirect), opens /ws/demo/<code>/, and after the presenter starts voting casts
``--votes`` votes with exponential think time (mean ``--think`` s). A vote counts as shown on the presenter screen
when a pushed update carries that participant's dot on the map with the refitted vote count (vote → stored →
worker refit → group_send → presenter consumer render); the vote count in the participant list (stored votes,
no refit needed) is reported too. Bounded: at most ``--max-seconds`` of voting, then it stops by itself.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tailor_demo_bench REDIS_URL=redis://127.0.0.1:6379/13 \
        .venv/bin/python benchmarks/demo_room.py --participants 100 --votes 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from live_stack import database_ensure, live_stack, redis_flush  # noqa: E402
from report import latency_summary, report_write  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
MAP_DOT = re.compile(r'data-user="(\d+)"[^>]*>\s*<title>([^<]*?) · (\d+) vote')
CHIP = re.compile(r'data-participant="(\d+)" data-votes="(\d+)">([^<]+?) <small')
PAIR = re.compile(r'name="pair_id" value="(\d+)"')




def _setup(env: dict[str, str], votes: int) -> str:
    """Fresh database: a scored pool (the showcase prompt has a stored default answer, so no LM loads during the
    run), a staff presenter and a session; returns the join code."""
    code = f"""
import django, random
django.setup()
from django.core.management import call_command
call_command("flush", interactive=False, verbosity=0)
call_command("migrate", verbosity=0)
from django.contrib.auth import get_user_model
from webapp.catalog.models import Prompt, Response
from webapp.demos.services import session_create
rng = random.Random(0)
prompts = [Prompt.objects.create(text=f"demo bench prompt {{i}}?", domain=f"d{{i % 4}}") for i in range(12)]
Response.objects.bulk_create(
    Response(prompt=p, text=f"answer {{j}} to {{p.pk}}", style=f"s{{j}}", axis_scores=[rng.random() for _ in range(8)])
    for p in prompts for j in range(5))
Response.objects.create(prompt=prompts[0], text="the default answer", style="default", axis_scores=[0.5] * 8)
host = get_user_model().objects.create_user("host", password="bench-password-123", is_staff=True)
session = session_create(presenter=host, name="bench room", pairs_per_participant={votes})
print(session.code)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


async def _login(client, base: str) -> None:
    await client.get(f"{base}/accounts/login/")
    response = await client.post(f"{base}/accounts/login/", data={
        "username": "host", "password": "bench-password-123", "csrfmiddlewaretoken": client.cookies["csrftoken"]},
        headers={"Referer": base})
    if response.status_code != 302:
        raise RuntimeError(f"presenter login failed: {response.status_code}")


def _cookie(client) -> str:
    return "; ".join(f"{k}={v}" for k, v in client.cookies.items())


class Room:
    """What the benchmark saw: when each vote started, and when the presenter screen first showed it."""

    def __init__(self) -> None:
        self.started: dict[tuple[str, int], float] = {}
        self.shown_map: dict[tuple[str, int], float] = {}
        self.shown_count: dict[tuple[str, int], float] = {}
        self.post_ms: list[float] = []
        self.join_ms: list[float] = []  # join page + join POST + room page + participant websocket open
        self.presenter_messages = 0
        self.participant_messages = 0
        self.errors: list[str] = []
        self.t0 = 0.0  # when the presenter opened voting

    def presenter_message(self, html: str, at: float) -> None:
        self.presenter_messages += 1
        for _, name, votes in MAP_DOT.findall(html):
            for n in range(1, int(votes) + 1):
                self.shown_map.setdefault((name.strip(), n), at)
        for _, votes, name in CHIP.findall(html):
            for n in range(1, int(votes) + 1):
                self.shown_count.setdefault((name.strip(), n), at)

    def latencies(self, shown: dict[tuple[str, int], float], since: float = 0.0, until: float = float("inf")) -> list[float]:
        """Milliseconds from each vote to its first showing, for votes started within [since, until)."""
        return [(shown[key] - start) * 1000 for key, start in self.started.items()
                if key in shown and since <= start < until]

    def by_window(self, shown: dict[tuple[str, int], float], t0: float, seconds: float = 10.0) -> list[dict[str, object]]:
        """The map latency per window of vote start times: where in the run the slow votes were."""
        if not self.started:
            return []
        end = max(self.started.values())
        rows, since = [], t0
        while since <= end:
            values = self.latencies(shown, since, since + seconds)
            if values:
                rows.append({"from_s": round(since - t0), **latency_summary(values)})
            since += seconds
        return rows


async def _presenter(base: str, code: str, room: Room, stop: asyncio.Event, ready: asyncio.Event) -> None:
    import httpx
    import websockets

    async with httpx.AsyncClient() as client:
        await _login(client, base)
        url = f"ws://{base.split('://')[1]}/ws/demo/{code}/present/"
        async with websockets.connect(url, additional_headers={"Cookie": _cookie(client), "Origin": base},
                                      max_size=None) as ws:
            ready.set()
            while not stop.is_set():
                try:
                    message = await asyncio.wait_for(ws.recv(), timeout=0.5)
                except TimeoutError:
                    continue
                room.presenter_message(str(message), time.perf_counter())


async def _advance(base: str, code: str, stage: str) -> None:
    import httpx

    async with httpx.AsyncClient() as client:
        await _login(client, base)
        response = await client.post(f"{base}/demo/{code}/stage/", data={
            "stage": stage, "csrfmiddlewaretoken": client.cookies["csrftoken"]},
            headers={"Referer": base, "HX-Request": "true"})
        if response.status_code != 200:
            raise RuntimeError(f"stage {stage} refused: {response.status_code} {response.text[:200]}")


async def _participant(base: str, code: str, name: str, votes: int, think: float, room: Room,
                       voting: asyncio.Event, joined: asyncio.Event, counter: list[int], stop: asyncio.Event,
                       rng: random.Random, join_seconds: float) -> None:
    import httpx
    import websockets

    await asyncio.sleep(rng.uniform(0, join_seconds))  # a room joins over some seconds, not in one millisecond
    async with httpx.AsyncClient(timeout=60) as client:
        joining = time.perf_counter()
        await client.get(f"{base}/demo/join/")
        response = await client.post(f"{base}/demo/join/", data={
            "code": code, "display_name": name, "csrfmiddlewaretoken": client.cookies["csrftoken"]},
            headers={"Referer": base})
        if response.status_code != 302:
            raise RuntimeError(f"{name} could not join: {response.status_code} {response.text[:200]}")
        # as a browser does: follow the redirect to the room (the lobby already shows a pair), then open the socket
        first = await client.get(f"{base}/demo/{code}/")
        page, status = first.text, first.status_code
        url = f"ws://{base.split('://')[1]}/ws/demo/{code}/"
        async with websockets.connect(url, additional_headers={"Cookie": _cookie(client), "Origin": base},
                                      max_size=None, open_timeout=60) as ws:
            room.join_ms.append((time.perf_counter() - joining) * 1000)

            async def listen() -> None:
                async for _ in ws:
                    room.participant_messages += 1

            listener = asyncio.create_task(listen())
            counter[0] += 1
            if counter[0] == counter[1]:
                joined.set()
            await voting.wait()  # the page is told over its socket; opening voting fetches nothing
            for n in range(1, votes + 1):
                await asyncio.sleep(rng.expovariate(1 / think))
                if stop.is_set():
                    break
                match = PAIR.search(page)
                if match is None:
                    room.errors.append(f"{name} vote {n}: no pair to vote on (HTTP {status}: {page[:120]!r})")
                    break
                data = {"pair_id": match.group(1), "idempotency_key": str(uuid.uuid4()),
                        "choice": rng.choice(["left", "right"]), "csrfmiddlewaretoken": client.cookies["csrftoken"]}
                start = time.perf_counter()
                room.started[(name, n)] = start
                response = await client.post(f"{base}/demo/{code}/vote/", data=data,
                                             headers={"HX-Request": "true", "Referer": base})
                room.post_ms.append((time.perf_counter() - start) * 1000)
                if response.status_code != 200:
                    room.errors.append(f"{name} vote {n}: {response.status_code}")
                    del room.started[(name, n)]
                    break
                page, status = response.text, response.status_code
            await stop.wait()
            listener.cancel()


async def _participant_logged(room: Room, name: str, *args: object) -> None:
    """A participant whose failure is reported, not swallowed (the run goes on with the others)."""
    try:
        await _participant(*args)  # type: ignore[arg-type]
    except Exception as exc:
        room.errors.append(f"{name}: {type(exc).__name__}: {str(exc)[:160]}")
        raise


async def _run(base: str, code: str, participants: int, votes: int, think: float, max_seconds: float,
               settle: float, join_seconds: float) -> tuple[Room, dict[str, float]]:
    import psutil

    room = Room()
    stop, ready, joined, voting = asyncio.Event(), asyncio.Event(), asyncio.Event(), asyncio.Event()
    presenter = asyncio.create_task(_presenter(base, code, room, stop, ready))
    await asyncio.wait_for(ready.wait(), timeout=30)
    counter = [0, participants]
    rng = random.Random(0)
    tasks = [asyncio.create_task(_participant_logged(room, f"p{i:03d}", base, code, f"p{i:03d}", votes, think, room,
                                                     voting, joined, counter, stop, random.Random(rng.random()),
                                                     join_seconds))
             for i in range(participants)]
    deadline = time.perf_counter() + 120 + join_seconds
    while not joined.is_set():
        failed = [t for t in tasks if t.done() and t.exception() is not None]
        if failed:
            raise RuntimeError(f"{len(failed)} participants could not join") from failed[0].exception()
        if time.perf_counter() > deadline:
            raise TimeoutError(f"only {counter[0]} of {participants} participants joined in time")
        try:
            await asyncio.wait_for(joined.wait(), timeout=5)
        except TimeoutError:
            print(f"  {counter[0]}/{participants} joined", flush=True)
    print(f"  {participants} participants joined, each with a websocket; voting starts", flush=True)
    servers = [p for p in psutil.Process().children(recursive=True)]
    before = {p.pid: sum(p.cpu_times()[:2]) for p in servers}
    client_before = sum(psutil.Process().cpu_times()[:2])  # the simulated room shares the machine's cores
    psutil.cpu_percent(None)
    t0 = time.perf_counter()
    await _advance(base, code, "voting")
    voting.set()
    expected = participants * votes
    while time.perf_counter() - t0 < max_seconds:
        await asyncio.sleep(1)
        done = len(room.started)
        if done >= expected and all(key in room.shown_map for key in room.started):
            break
        if int(time.perf_counter() - t0) % 10 == 0:
            print(f"  {done}/{expected} votes cast, {len(room.latencies(room.shown_map))} shown", flush=True)
    await asyncio.sleep(settle)
    wall = time.perf_counter() - t0
    machine = psutil.cpu_percent(None)
    cpu = {}
    for p in servers:
        try:
            used = sum(p.cpu_times()[:2]) - before[p.pid]
        except psutil.NoSuchProcess:
            continue
        kind = "worker" if "celery" in " ".join(p.cmdline()) else "web"  # uvicorn and its spawned workers
        cpu[kind] = cpu.get(kind, 0.0) + used
    cpu["client"] = sum(psutil.Process().cpu_times()[:2]) - client_before
    stop.set()
    await asyncio.gather(presenter, *tasks, return_exceptions=True)
    usage = {f"{k}_cpu_seconds": round(v, 2) for k, v in cpu.items()}
    usage.update({f"{k}_cpu_percent_of_one_core": round(100 * v / wall, 1) for k, v in cpu.items()})
    usage["machine_cpu_percent_all_cores"] = machine
    usage["wall_seconds"] = round(wall, 1)
    room.t0 = t0
    return room, usage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=100)
    parser.add_argument("--votes", type=int, default=5, help="votes per participant")
    parser.add_argument("--think", type=float, default=6.0, help="mean seconds between a participant's votes")
    parser.add_argument("--max-seconds", type=float, default=180.0)
    parser.add_argument("--join-seconds", type=float, default=20.0, help="joins spread uniformly over this")
    parser.add_argument("--worker-concurrency", type=int, default=2,
                        help="processes of the default-queue worker (refits), as in docker/compose.yaml")
    parser.add_argument("--web-workers", type=int, default=1,
                        help="uvicorn processes (scale-out; each runs Django's sync code on its own thread)")
    parser.add_argument("--json", type=Path, default=RESULTS / "demo_room.json")
    args = parser.parse_args()
    if not 1 <= args.participants <= 500 or not 1 <= args.votes <= 50 or args.think <= 0:
        parser.error("participants 1..500, votes 1..50, think > 0")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "webapp.settings.base", "DEBUG": "false", "LOG_LEVEL": "WARNING",
           "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tailor_demo_bench"),
           "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/13"),
           "TAILOR_HOME": os.environ.get("TAILOR_HOME", str(ROOT / "var" / "bench-demo")),
           # every simulated phone comes from 127.0.0.1: the per-IP join limit is for real networks
           "DEMO_JOIN_ATTEMPTS_PER_IP": str(max(150, 2 * args.participants)),
           "TAILOR_TORCH_THREADS": "1"}
    database_ensure(env["DATABASE_URL"])
    code = _setup(env, args.votes)
    redis_flush(env)
    with live_stack(env, worker_concurrency=args.worker_concurrency, web_workers=args.web_workers) as base:
        print(f"room {code}: {args.participants} participants × {args.votes} votes, think {args.think} s", flush=True)
        room, usage = asyncio.run(_run(base, code, args.participants, args.votes, args.think, args.max_seconds,
                                       settle=3.0, join_seconds=args.join_seconds))
    map_ms, count_ms = room.latencies(room.shown_map), room.latencies(room.shown_count)
    result = {
        "benchmark": "demo room: vote -> presenter screen update",
        "participants": args.participants, "votes_per_participant": args.votes, "think_seconds_mean": args.think,
        "worker_concurrency": args.worker_concurrency, "web_workers": args.web_workers, "load_average_at_end": list(os.getloadavg()),
        "votes_cast": len(room.started), "votes_shown_on_map": len(map_ms),
        "offered_votes_per_second": round(len(room.started) / max(usage["wall_seconds"] - 3.0, 1e-9), 1),
        "vote_to_presenter_map_ms": latency_summary(map_ms),
        "vote_to_presenter_count_ms": latency_summary(count_ms),
        "vote_post_ms": latency_summary(room.post_ms),
        "vote_to_presenter_map_ms_by_10s_window": room.by_window(room.shown_map, room.t0),
        "join_ms": latency_summary(room.join_ms),
        "target_p95_ms": 250,
        "presenter_messages": room.presenter_messages, "participant_messages": room.participant_messages,
        "server_cpu": usage,
        "errors": room.errors[:20],
        "database": env["DATABASE_URL"].split(":")[0], "broker": env["REDIS_URL"].split(":")[0],
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    report_write(args.json, result)


if __name__ == "__main__":
    main()
