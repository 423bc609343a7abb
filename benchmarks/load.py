"""API votes under concurrent load, and whether the profiles keep up: ``--users`` token users vote over HTTP (GET
/api/v1/pairs/next/, then POST /api/v1/votes/ with an Idempotency-Key, retried with the same key on a failure)
from ``--concurrency`` concurrent clients for ``--seconds`` each, against the real stack (uvicorn ``--web-workers``
processes with a database pool, one Celery worker per work class, celery beat so the reconciler runs, PostgreSQL,
Redis).

Reported per concurrency: votes/s, failed requests, GET and POST latency; and the profile lag, read from PostgreSQL
every 0.5 s for every user: the age of the user's oldest vote its stored profile does not cover yet (0 when the
profile is fitted through the newest vote), so its p95, max and slope over the run say whether refits keep up;
each vote's lag (vote stored → a profile covering it stored); the votes not yet fitted when the load stops and the
time until every profile covers every vote. The stored votes are checked against the created ones (never lost,
never counted twice, a replayed key returns the same vote).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tailor_bench_load REDIS_URL=redis://127.0.0.1:6379/12 \\
        .venv/bin/python benchmarks/load.py --concurrency 10 20 50 --seconds 60 --web-workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.live_stack import bench_users_setup, database_ensure, live_stack, redis_flush  # noqa: E402
from benchmarks.report import percentile, report_write  # noqa: E402

SAMPLE_SECONDS = 0.5
#: per user: the profile's fitted vote, the newest vote, and the time of the oldest vote the profile lacks
LAG_SQL = """
select u.id, coalesce(p.fitted_vote_id, 0),
       (select s.created_at from profiles_profilesnapshot s where s.profile_id = p.id and s.version = p.version),
       (select max(v.id) from votes_vote v where v.user_id = u.id),
       (select v.created_at from votes_vote v where v.user_id = u.id and v.id > coalesce(p.fitted_vote_id, 0)
         order by v.id limit 1),
       (select count(*) from votes_vote v where v.user_id = u.id and v.id > coalesce(p.fitted_vote_id, 0)),
       now()
from auth_user u left join profiles_rewardprofile p on p.user_id = u.id
where u.id = any(%s)
"""


def ms_summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": round(statistics.median(values), 1), "p95": round(percentile(values, 95), 1),
            "p99": round(percentile(values, 99), 1), "max": round(max(values), 1)}


def s_summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": round(statistics.median(values), 2), "p95": round(percentile(values, 95), 2),
            "max": round(max(values), 2)}


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (t, y): seconds of lag gained per second of load."""
    if len(points) < 3:
        return 0.0
    mt = statistics.fmean(t for t, _ in points)
    my = statistics.fmean(y for _, y in points)
    var = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (y - my) for t, y in points) / var if var else 0.0


@dataclass
class Level:
    concurrency: int
    get_ms: list[float] = field(default_factory=list)
    post_ms: list[float] = field(default_factory=list)
    created: dict[int, int] = field(default_factory=dict)  # vote id → user id
    failed: dict[str, int] = field(default_factory=dict)  # what failed → how many requests
    nothing_left: int = 0
    replays: int = 0
    replays_wrong: int = 0

    def fail(self, what: str) -> None:
        self.failed[what] = self.failed.get(what, 0) + 1


@dataclass
class LagTrace:
    """What the sampler saw: per sample, each user's staleness (s); each covered vote's lag (s)."""

    samples: list[tuple[float, list[float]]] = field(default_factory=list)  # (t since start, per-user lag s)
    vote_lag_s: list[float] = field(default_factory=list)
    unfitted: int = 0


async def _vote_loop(session: Any, base: str, users: list[tuple[int, str]], level: Level, stop_at: float,
                     rng: random.Random, replay_rate: float) -> None:
    import aiohttp

    i = 0
    while time.perf_counter() < stop_at:
        user_id, token = users[i % len(users)]
        i += 1
        headers = {"Authorization": f"Token {token}"}
        start = time.perf_counter()
        try:
            async with session.get(f"{base}/api/v1/pairs/next/", headers=headers) as response:
                body = await response.json() if response.status == 200 else None
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            level.fail(f"GET {type(exc).__name__}")
            continue
        level.get_ms.append((time.perf_counter() - start) * 1000)
        if status == 204:
            level.nothing_left += 1
            continue
        if status != 200 or body is None:
            level.fail(f"GET {status}")
            await asyncio.sleep(0.05)
            continue
        key = str(uuid.uuid4())
        vote = {"pair": body["id"], "choice": rng.choice(["left", "right", "left", "right", "tie"])}
        vote_id = None
        for attempt in range(4):  # a failure is retried with the same key: the vote is stored once
            start = time.perf_counter()
            try:
                async with session.post(f"{base}/api/v1/votes/", json=vote,
                                        headers={**headers, "Idempotency-Key": key}) as response:
                    status = response.status
                    answer = await response.json() if status in (200, 201) else None
            except (aiohttp.ClientError, TimeoutError) as exc:
                level.fail(f"POST {type(exc).__name__}")
                await asyncio.sleep(0.05 * (attempt + 1))
                continue
            level.post_ms.append((time.perf_counter() - start) * 1000)
            if status in (200, 201) and answer is not None:
                vote_id = int(answer["id"])
                if status == 201:
                    level.created[vote_id] = user_id
                break
            level.fail(f"POST {status}")
            if status < 500 and status != 429:
                break
            await asyncio.sleep(0.05 * (attempt + 1))
        if vote_id is not None and rng.random() < replay_rate:  # a client that did not see the answer resends
            level.replays += 1
            async with session.post(f"{base}/api/v1/votes/", json=vote,
                                    headers={**headers, "Idempotency-Key": key}) as response:
                replayed = await response.json() if response.status == 200 else None
            if replayed is None or int(replayed["id"]) != vote_id:
                level.replays_wrong += 1


async def _sample(conn: Any, user_ids: list[int], trace: LagTrace, t0: float,
                  vote_times: dict[int, list[tuple[int, datetime]]]) -> bool:
    """One sample of every user's lag; True when every profile covers every vote."""
    cursor = await conn.execute(LAG_SQL, (user_ids,))
    rows = await cursor.fetchall()
    at = time.perf_counter() - t0
    lags, unfitted = [], 0
    for user_id, fitted, stored_at, _newest, oldest_missing_at, missing, now in rows:
        lags.append((now - oldest_missing_at).total_seconds() if oldest_missing_at is not None else 0.0)
        unfitted += missing
        # each vote's lag: from its creation to the first stored profile seen covering it (that fit's snapshot
        # says when it was stored; without one, when it was seen)
        pending = vote_times.get(user_id)
        stored_at = stored_at or now
        if pending:
            still = []
            for vote_id, created_at in pending:
                if vote_id <= fitted:
                    trace.vote_lag_s.append(max(0.0, (stored_at - created_at).total_seconds()))
                else:
                    still.append((vote_id, created_at))
            vote_times[user_id] = still
    trace.samples.append((at, lags))
    trace.unfitted = unfitted
    return unfitted == 0


async def _new_votes(conn: Any, user_ids: list[int], after_id: int,
                     vote_times: dict[int, list[tuple[int, datetime]]]) -> int:
    cursor = await conn.execute("select id, user_id, created_at from votes_vote where user_id = any(%s) and id > %s "
                                "order by id", (user_ids, after_id))
    for vote_id, user_id, created_at in await cursor.fetchall():
        vote_times.setdefault(user_id, []).append((vote_id, created_at))
        after_id = vote_id
    return after_id


async def _level(base: str, dsn: str, users: list[tuple[int, str]], concurrency: int, seconds: float,
                 catch_up_timeout: float, replay_rate: float, seed: int) -> dict[str, Any]:
    import aiohttp
    import psutil
    import psycopg

    level = Level(concurrency)
    trace = LagTrace()
    user_ids = [uid for uid, _ in users]
    groups = [users[i::concurrency] for i in range(concurrency)]  # a user is never voted by two clients at once
    vote_times: dict[int, list[tuple[int, datetime]]] = {}
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        cursor = await conn.execute("select coalesce(max(id), 0) from votes_vote")
        last_seen = int((await cursor.fetchone())[0])
        first_id = last_seen
        connector = aiohttp.TCPConnector(limit=concurrency * 2)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            servers = psutil.Process().children(recursive=True)
            cpu_before = {p.pid: sum(p.cpu_times()[:2]) for p in servers}
            client_before = sum(psutil.Process().cpu_times()[:2])
            psutil.cpu_percent(None)
            t0 = time.perf_counter()
            stop_at = t0 + seconds
            loops = [asyncio.create_task(_vote_loop(session, base, group, level, stop_at,
                                                    random.Random(seed * 1000 + i), replay_rate))
                     for i, group in enumerate(groups) if group]
            while time.perf_counter() < stop_at:
                await asyncio.sleep(SAMPLE_SECONDS)
                last_seen = await _new_votes(conn, user_ids, last_seen, vote_times)
                await _sample(conn, user_ids, trace, t0, vote_times)
            await asyncio.gather(*loops)
            load_s = time.perf_counter() - t0
            machine_cpu = psutil.cpu_percent(None)
            cpu: dict[str, float] = {}
            for p in servers:
                try:
                    kind = _process_kind(p.cmdline())
                    cpu[kind] = cpu.get(kind, 0.0) + sum(p.cpu_times()[:2]) - cpu_before[p.pid]
                except psutil.NoSuchProcess:
                    continue
            cpu["client"] = sum(psutil.Process().cpu_times()[:2]) - client_before
        last_seen = await _new_votes(conn, user_ids, last_seen, vote_times)
        await _sample(conn, user_ids, trace, t0, vote_times)
        during = list(trace.samples)
        unfitted_at_end = trace.unfitted
        caught_up_s = None
        stopped = time.perf_counter()
        while time.perf_counter() - stopped < catch_up_timeout:
            if await _sample(conn, user_ids, trace, t0, vote_times):
                caught_up_s = round(time.perf_counter() - stopped, 2)
                break
            await asyncio.sleep(SAMPLE_SECONDS)
        cursor = await conn.execute("select id from votes_vote where user_id = any(%s) and id > %s",
                                    (user_ids, first_id))
        stored = {int(row[0]) for row in await cursor.fetchall()}

    all_lags = [lag for _, lags in during for lag in lags]
    worst = [(t, max(lags)) for t, lags in during if lags]
    half = len(worst) // 2
    growth = slope(worst[half:]) if half >= 3 else slope(worst)  # after the ramp-up: does it keep growing?
    posted = sum(1 for _ in level.post_ms)
    return {
        "concurrency": concurrency,
        "seconds": round(load_s, 1),
        "votes": len(level.created),
        "votes_per_s": round(len(level.created) / load_s, 1),
        "failed_requests": sum(level.failed.values()),
        "failed_by_kind": level.failed,
        "nothing_left_to_ask": level.nothing_left,
        "get_next_ms": ms_summary(level.get_ms),
        "post_vote_ms": ms_summary(level.post_ms),
        "post_attempts": posted,
        "replays": level.replays,
        "replays_not_returning_the_same_vote": level.replays_wrong,
        "votes_stored_not_created_by_a_201": len(stored - set(level.created)),
        "votes_created_not_stored": len(set(level.created) - stored),
        "profile_lag_s": {
            "sampled_every_s": SAMPLE_SECONDS,
            "p50": round(statistics.median(all_lags), 2) if all_lags else None,
            "p95": round(percentile(all_lags, 95), 2) if all_lags else None,
            "max": round(max(all_lags), 2) if all_lags else None,
            "worst_user_slope_s_per_s_second_half": round(growth, 3),
            "growing": growth * seconds / 2 > 2.0,
            "worst_user_by_10s": [round(max(lag for t, lag in worst if int(t // 10) == w), 2)
                                  for w in sorted({int(t // 10) for t, _ in worst})],
        },
        "vote_to_covering_refit_s": s_summary(trace.vote_lag_s),
        "votes_unfitted_when_load_stopped": unfitted_at_end,
        "catch_up_after_load_s": caught_up_s,
        "cpu_seconds": {k: round(v, 1) for k, v in sorted(cpu.items())},
        "machine_cpu_percent": machine_cpu,
    }


def _process_kind(cmdline: list[str]) -> str:
    line = " ".join(cmdline)
    if "celery" in line:
        if " beat" in line:
            return "beat"
        queue = cmdline[cmdline.index("-Q") + 1] if "-Q" in cmdline else "worker"
        return f"worker:{queue}"
    return "web"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[10, 20, 50])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--users", type=int, default=60)
    parser.add_argument("--web-workers", type=int, default=2, help="uvicorn --workers")
    parser.add_argument("--realtime-concurrency", type=int, default=2, help="refit worker processes (supervisord.conf: 2)")
    parser.add_argument("--db-pool-max", type=int, default=10, help="DB_POOL_MAX per web process")
    parser.add_argument("--catch-up-timeout", type=float, default=120.0)
    parser.add_argument("--replay-rate", type=float, default=0.02,
                        help="share of votes sent a second time with the same key (must return the same vote)")
    parser.add_argument("--label", default="", help="names the JSON file: load[_label].json")
    args = parser.parse_args()
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tailor_bench_load")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/12")
    os.environ.setdefault("TAILOR_HOME", str(ROOT / "var" / "bench-load"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "webapp.settings.base"
    os.environ["DEBUG"] = "false"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["DB_POOL_MAX"] = str(args.db_pool_max)
    os.environ["TAILOR_THROTTLE_VOTES"] = "1000000/min"  # the throttle runs (its cost counts) but never refuses
    database_ensure(os.environ["DATABASE_URL"])
    env = dict(os.environ)
    redis_flush(env)
    users = bench_users_setup(args.users, prefix="load-bench-")
    dsn = os.environ["DATABASE_URL"].replace("postgres://", "postgresql://", 1)

    levels = []
    with live_stack(env, worker_concurrency=args.realtime_concurrency, web_workers=args.web_workers,
                    beat=True) as base:
        import requests

        for _, token in users:  # warm every web process's imports, statements and pool
            requests.get(f"{base}/api/v1/pairs/next/", headers={"Authorization": f"Token {token}"}, timeout=30)
        for n, concurrency in enumerate(args.concurrency):
            result = asyncio.run(_level(base, dsn, users, concurrency, args.seconds, args.catch_up_timeout,
                                        args.replay_rate, seed=n))
            print(f"c={concurrency}: {result['votes_per_s']} votes/s, {result['failed_requests']} failed, "
                  f"POST p95 {result['post_vote_ms'].get('p95')} ms, lag p95 {result['profile_lag_s']['p95']} s "
                  f"max {result['profile_lag_s']['max']} s, caught up in {result['catch_up_after_load_s']} s",
                  flush=True)
            levels.append(result)

    name = f"load_{args.label}.json" if args.label else "load.json"
    report_write(ROOT / "benchmarks" / "results" / name, {
        "what": "API votes (GET next pair + POST vote with an Idempotency-Key) from token users, PostgreSQL + Redis",
        "users": args.users, "web_workers": args.web_workers, "realtime_concurrency": args.realtime_concurrency,
        "db_pool_max": args.db_pool_max, "replay_rate": args.replay_rate,
        "levels": levels,
        "machine": f"{os.cpu_count()} cores shared with other agents' jobs; load average at end "
                   f"{[round(x, 2) for x in os.getloadavg()]}; the load generator runs on the same cores",
    })


if __name__ == "__main__":
    main()
