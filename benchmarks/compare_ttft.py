"""Time to first streamed token on the compare page, end to end on PostgreSQL + Redis with one gpu worker.

A signed-in client POSTs "write both answers" for a prompt, opens the job's websocket as the page does, and times
until the first text delta frame arrives (and until the job is done). The worker is warmed with one job first, as
a running deployment is; the cold figure (model load included) is reported separately.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tailor_bench REDIS_URL=redis://127.0.0.1:6379/14 \
        .venv/bin/python benchmarks/compare_ttft.py --jobs 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from live_stack import live_stack  # noqa: E402
from loop_latency import _setup  # noqa: E402  (same fresh database and user as the loop benchmark)
from report import report_write  # noqa: E402


async def _one(base: str, session: object, prompt_id: int, method: str) -> dict[str, float]:
    import websockets

    html = await asyncio.to_thread(session.post, f"{base}/compare/{prompt_id}/",  # type: ignore[attr-defined]
                                   data={"method": method, "csrfmiddlewaretoken": session.cookies["csrftoken"]},  # type: ignore[attr-defined]
                                   headers={"HX-Request": "true", "Referer": base})
    start = time.perf_counter()
    job_id = re.search(r'ws-connect="/ws/jobs/([0-9a-f-]+)/"', html.text).group(1)  # type: ignore[union-attr]
    cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())  # type: ignore[attr-defined]
    first = None
    async with websockets.connect(f"ws://{base.split('://')[1]}/ws/jobs/{job_id}/",
                                  additional_headers={"Cookie": cookie, "Origin": base}) as ws:
        while True:
            frame = str(await asyncio.wait_for(ws.recv(), timeout=300))
            if first is None and "beforeend:#compare-default-text" in frame:
                first = (time.perf_counter() - start) * 1000
            if 'id="compare-result"' in frame:
                break
    return {"first_token_ms": first or float("nan"), "done_ms": (time.perf_counter() - start) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5)
    parser.add_argument("--method", default="summary", choices=["summary", "best_of_n", "guided"])
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "compare_ttft.json")
    args = parser.parse_args()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "webapp.settings.base", "DEBUG": "false", "LOG_LEVEL": "WARNING",
           "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tailor_bench"),
           "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"),
           "TAILOR_HOME": os.environ.get("TAILOR_HOME", str(ROOT / "var" / "bench")),
           "TAILOR_TORCH_THREADS": os.environ.get("TAILOR_TORCH_THREADS", "1")}
    _setup(env, 12)
    with live_stack(env) as base:
        import requests

        session = requests.Session()
        session.get(f"{base}/accounts/login/")
        session.post(f"{base}/accounts/login/", data={"username": "bench", "password": "bench-password-123",
                     "csrfmiddlewaretoken": session.cookies["csrftoken"]}, headers={"Referer": base})
        prompt_ids = [int(p) for p in re.findall(r'href="/compare/(\d+)/"', session.get(f"{base}/compare/").text)]
        if not prompt_ids:
            prompt_ids = [1]
        cold = asyncio.run(_one(base, session, prompt_ids[0], args.method))
        print(f"cold (model load): first token {cold['first_token_ms']:.0f} ms", flush=True)
        warm = []
        for i in range(args.jobs):
            result = asyncio.run(_one(base, session, prompt_ids[(i + 1) % len(prompt_ids)], args.method))
            print(f"  job {i + 1}: first token {result['first_token_ms']:.0f} ms, done {result['done_ms']:.0f} ms",
                  flush=True)
            warm.append(result)
    firsts = [r["first_token_ms"] for r in warm]
    result = {
        "benchmark": "compare page: POST → first streamed token on the job's websocket",
        "method": args.method, "jobs": args.jobs,
        "first_token_ms": {"median": round(statistics.median(firsts), 1), "max": round(max(firsts), 1)},
        "done_ms_median": round(statistics.median(r["done_ms"] for r in warm), 1),
        "cold_first_token_ms": round(cold["first_token_ms"], 1), "target_first_token_ms": 1000,
    }
    report_write(args.json, result)


if __name__ == "__main__":
    main()
