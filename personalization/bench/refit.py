"""Timing of one user's refit (MAP Newton + Laplace) on CPU: the worker's per-vote cost."""

from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path

import torch
from tqdm import tqdm

from personalization.user_model import UserRewardModel


def refit_timing(
    seed: int = 0, n_votes: int = 200, dims: tuple[int, ...] = (16, 32, 64), repeats: int = 50,
    out_dir: str | Path = "benchmarks/results",
) -> dict[str, object]:
    """Median wall time of a cold ``fit`` and of a warm ``partial_fit`` (one new vote) for each K."""
    gen = torch.Generator().manual_seed(seed)
    figures: dict[str, dict[str, float]] = {}
    for k in tqdm(dims, desc="refit timing", unit="K"):
        true_w = torch.randn(k, generator=gen, dtype=torch.float64)
        diffs = torch.randn(n_votes, k, generator=gen, dtype=torch.float64)  # (N, K)
        p_first = torch.sigmoid(diffs @ true_w / k**0.5)
        outcomes = torch.where(torch.rand(n_votes, generator=gen, dtype=torch.float64) < p_first, 1, -1)
        cold, warm, iters = [], [], []
        for _ in range(repeats):
            start = time.perf_counter()
            model = UserRewardModel(device="cpu").fit(diffs[:-1], outcomes[:-1])
            cold.append(time.perf_counter() - start)
            iters.append(model.n_iter_)
            start = time.perf_counter()
            model.partial_fit(diffs[-1], int(outcomes[-1]))
            warm.append(time.perf_counter() - start)
        figures[str(k)] = {
            "fit_ms_median": 1000 * statistics.median(cold), "fit_ms_p90": 1000 * sorted(cold)[int(0.9 * repeats)],
            "partial_fit_ms_median": 1000 * statistics.median(warm), "newton_iterations": statistics.median(iters),
        }
    report: dict[str, object] = {
        "protocol": "refit", "n_votes": n_votes, "repeats": repeats, "torch_threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(), "torch": torch.__version__, "figures": figures,
        "target_ms": 5.0, "target_met": all(f["fit_ms_median"] <= 5.0 for f in figures.values()),
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "refit.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
