"""The staff prototype map: cost of one map (selector + SVG) for N users, and vote → staff map update latency.

Fills a scratch database with N users in four clusters and clusters them (the real refit), then:
1. times ``prototype_map(with_summaries=True)`` and the ``prototypes/_map.html`` render, in one process;
2. starts the real processes (uvicorn + one Celery worker), opens the staff review socket as a staff user, casts
   votes as another user over HTTP and times each vote until the staff socket pushes a map that shows the
   voter's new vote count (vote stored → worker refit → group_send → coalesced render → websocket).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tailor_review_bench REDIS_URL=redis://127.0.0.1:6379/12 \
        .venv/bin/python benchmarks/prototype_review.py --users 1000 --votes 100
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
from loop_latency import FRESH_POOL  # noqa: E402  (the same fresh database and pool)
from report import latency_summary, report_write  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"



SETUP = FRESH_POOL + """
import json, time
from django.template.loader import render_to_string
from webapp.profiles.models import RewardProfile
from webapp.prototypes.selectors import prototype_map
from workers.learning import prototypes_refit_run
from workers.features import bank_ensure

bank_id, _ = bank_ensure()
User = get_user_model()
User.objects.create_user("staff", password="bench-password-123", is_staff=True)
User.objects.create_user("bench", password="bench-password-123")
users = User.objects.bulk_create(User(username=f"u{{i}}") for i in range({users}))
centres = [[2, -1], [-2, 1], [1, 2], [-1, -2]]
eye = [[0.1 if a == b else 0.0 for b in range(8)] for a in range(8)]
RewardProfile.objects.bulk_create(
    RewardProfile(user=u, bank_id=bank_id, vote_count=rng.randint(3, 60), version=1, covariance=eye,
                  summary=f"summary of u{{i}}",
                  weights=[c + rng.gauss(0, 0.3) for c in centres[i % 4]] + [rng.gauss(0, 0.2) for _ in range(6)])
    for i, u in enumerate(users))
start = time.perf_counter()
live = prototypes_refit_run()
refit_s = time.perf_counter() - start
selector, render, size = [], [], 0
for _ in range(20):
    t0 = time.perf_counter()
    payload = prototype_map(with_summaries=True)
    t1 = time.perf_counter()
    html = render_to_string("prototypes/_map.html", {{"map": payload, "oob": True}})
    t2 = time.perf_counter()
    selector.append((t1 - t0) * 1000)
    render.append((t2 - t1) * 1000)
    size = len(html)
print(json.dumps({{"prototypes": live, "refit_s": round(refit_s, 2), "points": len(payload["points"]),
                  "selector_ms": selector, "render_ms": render, "html_bytes": size}}))
"""


async def _run(base: str, votes: int) -> dict[str, list[float]]:
    import requests
    import websockets

    def signed_in(username: str) -> requests.Session:
        session = requests.Session()
        session.get(f"{base}/accounts/login/")
        session.post(f"{base}/accounts/login/", data={"username": username, "password": "bench-password-123",
                     "csrfmiddlewaretoken": session.cookies["csrftoken"]}, headers={"Referer": base})
        return session

    staff, voter = signed_in("staff"), signed_in("bench")
    page = voter.get(f"{base}/vote/", headers={"HX-Request": "true"}).text
    cookie = "; ".join(f"{k}={v}" for k, v in staff.cookies.items())
    loop_ms: list[float] = []
    async with websockets.connect(f"ws://{base.split('://')[1]}/ws/staff/prototypes/",
                                  additional_headers={"Cookie": cookie, "Origin": base}, max_size=2**24) as ws:
        for i in range(votes):
            pair_id = re.search(r'name="pair_id" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
            data = {"pair_id": pair_id, "idempotency_key": str(uuid.uuid4()), "choice": "left" if i % 3 else "right",
                    "csrfmiddlewaretoken": voter.cookies["csrftoken"]}
            start = time.perf_counter()
            response = await asyncio.to_thread(voter.post, f"{base}/vote/", data=data,
                                               headers={"HX-Request": "true", "Referer": base})
            if response.status_code != 200:
                raise RuntimeError(f"vote {i} failed: {response.status_code} {response.text[:200]}")
            page = response.text
            while True:  # the map showing this vote (a later, coalesced map also counts)
                message = str(await asyncio.wait_for(ws.recv(), timeout=30))
                shown = re.search(r"<title>bench · (\d+) votes?", message)
                if shown and int(shown.group(1)) >= i + 1:
                    break
            loop_ms.append((time.perf_counter() - start) * 1000)
            if (i + 1) % 25 == 0:
                print(f"  {i + 1}/{votes} votes, last {loop_ms[-1]:.1f} ms", flush=True)
    return {"loop_ms": loop_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--votes", type=int, default=100)
    parser.add_argument("--json", type=Path, default=RESULTS / "prototype_review.json")
    args = parser.parse_args()
    if args.users < 8 or args.votes < 1:
        parser.error("--users must be at least 8 and --votes at least 1")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "webapp.settings.base", "DEBUG": "false",
           "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tailor_review_bench"),
           "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/12"), "LOG_LEVEL": "WARNING",
           # the benchmark triggers refits itself; no periodic job should run in the middle of it
           "PROTOTYPES_INTERVAL_SECONDS": "100000", "BANK_REFIT_INTERVAL_SECONDS": "100000",
           "TAILOR_HOME": os.environ.get("TAILOR_HOME", str(ROOT / "var" / "bench-review"))}
    database_ensure(env["DATABASE_URL"])
    print(f"filling the database with {args.users} users and clustering them...", flush=True)
    out = subprocess.run([sys.executable, "-c", SETUP.format(users=args.users, votes=args.votes)], cwd=ROOT,
                         env=env, check=True, capture_output=True, text=True).stdout
    cost = json.loads(out.strip().splitlines()[-1])
    redis_flush(env)
    with live_stack(env) as base:
        print(f"casting {args.votes} votes, watching the staff map...", flush=True)
        loop = asyncio.run(_run(base, args.votes))["loop_ms"]
    result = {
        "benchmark": "staff prototype map: map cost, and vote -> refit -> staff map pushed",
        "users": args.users, "votes": args.votes, "prototypes": cost["prototypes"], "points": cost["points"],
        "refit_all_s": cost["refit_s"],
        "map_selector_ms": latency_summary(cost["selector_ms"], digits=2),
        "map_render_ms": latency_summary(cost["render_ms"], digits=2),
        "map_html_bytes": cost["html_bytes"],
        "vote_to_staff_map_ms": latency_summary(loop, digits=2),
        "note": "the consumer pushes the first map of a burst at once, later ones at most every 150 ms; "
                "the first vote includes the worker's warm-up (see max)",
        "database": env["DATABASE_URL"].split(":")[0],
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_1m_at_end": round(os.getloadavg()[0], 2)},
    }
    report_write(args.json, result)


if __name__ == "__main__":
    main()
