"""What every benchmark reports the same way: latency summaries and the JSON written under benchmarks/results/."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0–100) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def latency_summary(values: list[float], digits: int = 1) -> dict[str, float]:
    """n, p50, p95, max and mean of latencies (ms), rounded; ``{"n": 0}`` when nothing was measured."""
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": round(statistics.median(values), digits),
            "p95": round(percentile(values, 95), digits), "max": round(max(values), digits),
            "mean": round(statistics.fmean(values), digits)}


def report_write(path: Path, result: dict[str, Any]) -> None:
    """Stamp ``result`` with the time, write it as JSON to ``path`` and print it."""
    result.setdefault("when", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2)
    path.write_text(text + "\n")
    print(text)
