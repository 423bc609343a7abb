"""Active choice of the next pair to show a user (PReF, Shenfeld et al. 2025: queries that most reduce the
uncertainty of the user's weights), mixed with random pairs so the data stay unbiased.

``information`` is the expected information gain about the weights (BALD, Houlsby et al. 2011, "Bayesian active
learning for classification and preference learning"), estimated from posterior samples under the Davidson
model; ``uncertainty`` is the entropy of the predicted outcome at the posterior mean; ``random`` is uniform.
"""

from __future__ import annotations

import math

import torch

STRATEGIES = ("random", "uncertainty", "information")


def _outcome_probs(scores: torch.Tensor, tie_strength: float) -> torch.Tensor:
    """(..., 3) probabilities of first, second, tie from scores r(first) − r(second)."""
    half = scores / 2
    log_nu = math.log(tie_strength) if tie_strength > 0 else -math.inf
    return torch.softmax(torch.stack([half, -half, torch.full_like(half, log_nu)], -1), -1)


def _entropy(p: torch.Tensor) -> torch.Tensor:
    return -(p * p.clamp(min=1e-12).log()).sum(-1)


def pair_utilities(
    diffs: torch.Tensor,
    *,
    weights: torch.Tensor,
    covariance: torch.Tensor,
    strategy: str = "information",
    tie_strength: float = 0.5,
    n_samples: int = 128,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """(M,) utility of asking each candidate pair (``diffs`` (M, K) = φ(first) − φ(second)); higher is better."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    d = torch.as_tensor(diffs, dtype=torch.float64)  # (M, K)
    w = torch.as_tensor(weights, dtype=torch.float64)  # (K,)
    if strategy == "random":
        return torch.rand(d.shape[0], generator=generator, dtype=torch.float64)
    if strategy == "uncertainty":
        return _entropy(_outcome_probs(d @ w, tie_strength))
    cov = torch.as_tensor(covariance, dtype=torch.float64)
    chol = torch.linalg.cholesky(cov + 1e-10 * torch.eye(cov.shape[0], dtype=torch.float64))
    noise = torch.randn(n_samples, w.shape[0], generator=generator, dtype=torch.float64)
    samples = w + noise @ chol.T  # (S, K)
    probs = _outcome_probs(d @ samples.T, tie_strength)  # (M, S, 3)
    return _entropy(probs.mean(1)) - _entropy(probs).mean(1)  # H[E p] − E H[p]


def pair_next(
    diffs: torch.Tensor,
    *,
    weights: torch.Tensor,
    covariance: torch.Tensor,
    strategy: str = "information",
    random_rate: float = 0.1,
    tie_strength: float = 0.5,
    n_samples: int = 128,
    generator: torch.Generator | None = None,
) -> int:
    """Index of the next pair to ask among the candidates ``diffs`` (M, K), under the posterior N(weights, cov).

    With probability ``random_rate`` a uniformly random pair is returned instead (unbiased data for the bank).
    """
    if diffs.shape[0] == 0:
        raise ValueError("no candidate pairs")
    if random_rate > 0 and float(torch.rand((), generator=generator)) < random_rate:
        strategy = "random"
    utilities = pair_utilities(diffs, weights=weights, covariance=covariance, strategy=strategy,
                               tie_strength=tie_strength, n_samples=n_samples, generator=generator)
    return int(utilities.argmax())
