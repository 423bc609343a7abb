"""The REST API as a script meets it, over HTTP against the real stack (uvicorn + one Celery worker, PostgreSQL,
Redis): the voting loop (GET next pair, POST vote with an Idempotency-Key), time until the profile counts the
votes, a score job's turnaround on a warm worker, and the JSONL export rate.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tailor_bench_api REDIS_URL=redis://127.0.0.1:6379/11 \\
        .venv/bin/python benchmarks/api.py --votes 200
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.report import latency_summary, report_write  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=200)
    parser.add_argument("--scores", type=int, default=10)
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "api.json")
    args = parser.parse_args()
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tailor_bench_api")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/11")
    os.environ.setdefault("TAILOR_HOME", str(ROOT / "var" / "bench-api"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "webapp.settings.base"
    os.environ["DEBUG"] = "false"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["TAILOR_THROTTLE_VOTES"] = "100000/min"  # measure the endpoint, not the throttle
    os.environ["TAILOR_THROTTLE_GENERATION"] = "100000/min"
    os.environ["TAILOR_GOLD_PAIR_RATE"] = os.environ["TAILOR_REPEAT_PAIR_RATE"] = "0"
    import django

    django.setup()
    import requests
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from benchmarks.live_stack import live_stack
    from webapp.catalog.models import Prompt
    from workers.celery_app import app

    call_command("migrate", verbosity=0)
    if Prompt.objects.count() < 60:
        call_command("load_demo_data", verbosity=0)
    app.control.purge()
    users = get_user_model().objects
    users.filter(username__in=["api-bench", "api-bench-staff"]).delete()
    user = users.create(username="api-bench")
    staff = users.create(username="api-bench-staff", is_staff=True)
    headers = {"Authorization": f"Token {Token.objects.create(user=user).key}"}
    staff_headers = {"Authorization": f"Token {Token.objects.create(user=staff).key}"}

    with live_stack(dict(os.environ)) as base:
        session = requests.Session()
        session.headers.update(headers)
        next_ms, vote_ms = [], []
        session.get(f"{base}/api/v1/pairs/next/")  # warm
        loop_started = time.perf_counter()
        for _ in range(args.votes):
            start = time.perf_counter()
            pair = session.get(f"{base}/api/v1/pairs/next/", timeout=10).json()
            next_ms.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            response = session.post(f"{base}/api/v1/votes/", json={"pair": pair["id"], "choice": "left"},
                                    headers={"Idempotency-Key": str(uuid.uuid4())}, timeout=10)
            vote_ms.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 201, response.text
        deadline = time.perf_counter() + 120
        while session.get(f"{base}/api/v1/profile/").json()["vote_count"] < args.votes:
            if time.perf_counter() > deadline:
                raise SystemExit("the profile did not catch up within 120 s")
            time.sleep(0.05)
        caught_up_s = time.perf_counter() - loop_started

        score_ms = []
        body = {"prompt": "How do I keep basil alive?", "answers": [
            "Water it when the soil is dry and give it sun.",
            "1. Six hours of sun.\n2. Water at the base.\n3. Pinch the flowers off.",
        ]}
        for _ in range(args.scores + 1):
            start = time.perf_counter()
            job = session.post(f"{base}/api/v1/score/", json=body, timeout=10).json()
            while (state := session.get(f"{base}{job['url']}", timeout=10).json())["status"] not in ("done", "failed"):
                time.sleep(0.01)
            assert state["status"] == "done", state
            score_ms.append((time.perf_counter() - start) * 1000)
        score_ms = score_ms[1:]  # the first one warms the worker

        start = time.perf_counter()
        export = requests.get(f"{base}/api/v1/exports/votes/", headers=staff_headers, timeout=120)
        export_s = time.perf_counter() - start
        export_rows = len(export.content.splitlines())

    result = {
        "votes": args.votes,
        "next_pair_ms": latency_summary(next_ms),
        "vote_post_ms": latency_summary(vote_ms),
        "votes_then_profile_counts_all_s": round(caught_up_s, 2),
        "score_job_turnaround_ms_warm": latency_summary(score_ms),
        "export_votes_rows": export_rows,
        "export_votes_rows_per_s": round(export_rows / export_s),
        "export_votes_mb": round(len(export.content) / 1e6, 2),
        "machine": f"{os.cpu_count()} cores, shared with other jobs",
    }
    report_write(args.json, result)


if __name__ == "__main__":
    main()
