"""Accuracy-versus-shots plots of a benchmark report."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def accuracy_plot(report: dict[str, Any], out: str | Path) -> Path:
    """One line per method (and per active strategy when present), with 95% intervals as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("accuracy", "ci95")] + ([("active", "active_ci95")] if "active" in report else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    for ax, (key, ci_key) in zip(axes[0], panels, strict=True):
        for method, by_shot in report[key].items():
            shots = sorted(by_shot, key=int)
            ci = report.get(ci_key, {}).get(method, {})
            ax.errorbar([int(s) for s in shots], [by_shot[s] for s in shots],
                        yerr=[ci.get(s, 0.0) for s in shots], marker="o", capsize=3, label=method)
        ax.set_xscale("log")
        ax.set_xlabel("votes from the user")
        ax.set_ylabel("held-out pair accuracy")
        ax.set_title(f"{report['protocol']}: {key}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return Path(out)
