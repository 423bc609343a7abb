"""Vote → profile stored → message on the websocket, end to end on PostgreSQL + Redis with one Celery worker.

Starts the real processes (uvicorn serving the ASGI app, one Celery worker), signs a user in over HTTP, opens the
profile websocket with the session cookie and casts N votes in a row, each time waiting for the pushed panel
with the next version. Prints p50/p95 and writes JSON under benchmarks/results/.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tailor_bench REDIS_URL=redis://127.0.0.1:6379/14 \
        .venv/bin/python benchmarks/loop_latency.py --votes 500
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
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



#: Python for a subprocess, filled with ``.format(votes=N)``: a fresh database and a pool with precomputed
#: features big enough for N distinct pairs (``rng``, ``Prompt``, ``Response``, ``get_user_model`` stay defined).
FRESH_POOL = """
import django, random
django.setup()
from django.core.management import call_command
call_command("flush", interactive=False, verbosity=0)
call_command("migrate", verbosity=0)
from django.contrib.auth import get_user_model
from webapp.catalog.models import Prompt, Response
rng = random.Random(0)
prompts = [Prompt.objects.create(text=f"bench prompt {{i}}?", domain="bench") for i in range({votes} // 6 + 10)]
Response.objects.bulk_create(
    Response(prompt=p, text=f"answer {{j}} to {{p.pk}}", axis_scores=[rng.random() for _ in range(8)])
    for p in prompts for j in range(4))
"""


def _setup(env: dict[str, str], votes: int) -> None:
    """Fresh database, a pool with precomputed features big enough for ``votes`` distinct pairs, one user."""
    code = FRESH_POOL.format(votes=votes) + 'get_user_model().objects.create_user("bench", password="bench-password-123")\n'
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)


async def _run(base: str, votes: int) -> dict[str, list[float]]:
    import requests
    import websockets

    session = requests.Session()
    session.get(f"{base}/accounts/login/")
    session.post(f"{base}/accounts/login/", data={"username": "bench", "password": "bench-password-123",
                 "csrfmiddlewaretoken": session.cookies["csrftoken"]}, headers={"Referer": base})
    page = session.get(f"{base}/vote/", headers={"HX-Request": "true"}).text
    cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
    loop_ms: list[float] = []
    post_ms: list[float] = []
    async with websockets.connect(f"ws://{base.split('://')[1]}/ws/profile/",
                                  additional_headers={"Cookie": cookie, "Origin": base}) as ws:
        for i in range(votes):
            pair_id = re.search(r'name="pair_id" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
            data = {"pair_id": pair_id, "idempotency_key": str(uuid.uuid4()), "choice": "left" if i % 3 else "right",
                    "csrfmiddlewaretoken": session.cookies["csrftoken"]}
            start = time.perf_counter()
            response = await asyncio.to_thread(session.post, f"{base}/vote/", data=data,
                                               headers={"HX-Request": "true", "Referer": base})
            posted = time.perf_counter()
            if response.status_code != 200:
                raise RuntimeError(f"vote {i} failed: {response.status_code} {response.text[:200]}")
            page = response.text
            while True:  # the panel for this vote's fit (a coalesced later fit also counts)
                message = await asyncio.wait_for(ws.recv(), timeout=30)
                count = re.search(r'data-testid="vote-count">(\d+)<', str(message))
                if count and int(count.group(1)) >= i + 1:
                    break
            done = time.perf_counter()
            post_ms.append((posted - start) * 1000)
            loop_ms.append((done - start) * 1000)
            if (i + 1) % 50 == 0:
                print(f"  {i + 1}/{votes} votes, last loop {loop_ms[-1]:.1f} ms", flush=True)
    return {"loop_ms": loop_ms, "post_ms": post_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=500)
    parser.add_argument("--json", type=Path, default=RESULTS / "loop_latency.json")
    args = parser.parse_args()
    if args.votes < 1:
        parser.error("--votes must be at least 1")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "webapp.settings.base", "DEBUG": "false",
           "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tailor_bench"),
           "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"), "LOG_LEVEL": "WARNING",
           "TAILOR_HOME": os.environ.get("TAILOR_HOME", str(ROOT / "var" / "bench"))}
    database_ensure(env["DATABASE_URL"])
    _setup(env, args.votes)
    redis_flush(env)
    with live_stack(env) as base:
        print(f"casting {args.votes} votes through the whole loop...", flush=True)
        samples = asyncio.run(_run(base, args.votes))
    loop, post = samples["loop_ms"], samples["post_ms"]
    result = {
        "benchmark": "vote -> profile stored -> websocket message",
        "votes": args.votes,
        "database": env["DATABASE_URL"].split(":")[0],
        "broker": env["REDIS_URL"].split(":")[0],
        "loop_ms": latency_summary(loop, digits=2),
        "post_only_ms": latency_summary(post, digits=2),
        "target_p95_ms": 100,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    result["loop_over_post_p50"] = round(result["loop_ms"]["p50"] / max(result["post_only_ms"]["p50"], 1e-9), 2)
    report_write(args.json, result)


if __name__ == "__main__":
    main()
