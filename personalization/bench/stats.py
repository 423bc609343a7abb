"""Summary statistics shared by the benchmark protocols."""

from __future__ import annotations

import math


def mean_ci95(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of the normal 95% confidence interval of the mean."""
    if not values:
        return float("nan"), float("nan")
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / max(1, n - 1)
    return mean, 1.96 * math.sqrt(var / n)
