"""/vote/ server time and page weight on PostgreSQL.

Server time: Django's test client (no network) on a populated database: GET /vote/ (full page), GET with
HX-Request (the fragment) and POST a vote (htmx), each timed around the request. Page weight: the HTML plus every
static asset the page loads, excluding the vendored chart library (not loaded on /vote/ anyway).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tailor_bench .venv/bin/python benchmarks/vote_page.py
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.report import latency_summary, report_write  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "vote_page.json")
    args = parser.parse_args()
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tailor_bench")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
    os.environ.setdefault("TAILOR_HOME", str(ROOT / "var" / "bench"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "webapp.settings.base"
    os.environ["DEBUG"] = "false"
    os.environ["LOG_LEVEL"] = "WARNING"
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from webapp.catalog.models import Prompt

    call_command("migrate", verbosity=0)
    if Prompt.objects.count() < 60:
        call_command("load_demo_data", verbosity=0)
    user, _ = get_user_model().objects.get_or_create(username="page-bench")
    client = Client()
    client.force_login(user)
    client.get("/vote/")  # warm caches, templates, connections

    def timed(fn):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        response = fn()
        return (time.perf_counter() - start) * 1000, response

    page_ms, fragment_ms, post_ms = [], [], []
    for _ in range(args.requests):
        ms, response = timed(lambda: client.get("/vote/"))
        page_ms.append(ms)
        html = response.content.decode()
        ms, _ = timed(lambda: client.get("/vote/", HTTP_HX_REQUEST="true"))
        fragment_ms.append(ms)
        pair_id = re.search(r'name="pair_id" value="(\d+)"', html).group(1)  # type: ignore[union-attr]
        body = {"pair_id": pair_id, "idempotency_key": str(uuid.uuid4()), "choice": "left"}
        ms, response = timed(lambda body=body: client.post("/vote/", body, HTTP_HX_REQUEST="true"))
        assert response.status_code == 200, response.status_code
        post_ms.append(ms)

    html = client.get("/vote/").content
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html.decode())
    weights = {"html": len(html)}
    for asset in assets:
        if "chart" in asset:
            continue
        path = ROOT / "static" / asset.removeprefix("/static/")
        weights[asset] = path.stat().st_size
    total_kb = sum(weights.values()) / 1024

    result = {
        "benchmark": "/vote/ server time (Django test client) and page weight",
        "database": os.environ["DATABASE_URL"].split(":")[0],
        "requests": args.requests,
        "get_page_ms": latency_summary(page_ms, digits=2), "get_fragment_ms": latency_summary(fragment_ms, digits=2),
        "post_vote_ms": latency_summary(post_ms, digits=2),
        "target_p95_ms": 50,
        "page_weight_kb": round(total_kb, 1), "page_weight_parts_bytes": weights, "target_page_weight_kb": 200,
    }
    report_write(args.json, result)


if __name__ == "__main__":
    main()
