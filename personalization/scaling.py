"""Dual-granularity test-time scaling of a user's reward (P-GenRM, "Personalized generative reward models with
test-time user-based scaling"): the individual level averages over posterior samples of the user's weights; the
prototype level averages over the user's prototypes and their members nearest to the user; the two are blended
by the user's confidence (how far the votes have shrunk the posterior below the prior).
"""

from __future__ import annotations

import torch

from personalization.prototypes import PrototypeModel, PrototypePosterior


def user_confidence(posterior: PrototypePosterior, prototypes: PrototypeModel) -> float:
    """1 − tr(Σ_post) / tr(Σ_prior), in [0, 1]: 0 for a cold-start user, → 1 as votes pin the weights down."""
    _, post_cov = posterior.moments()
    r = prototypes.mix_
    spread = prototypes.means_ - r @ prototypes.means_  # (k, K)
    prior_trace = float(sum(float(r[c]) * (float(torch.trace(prototypes.covariances_[c])) + float(spread[c] @ spread[c]))
                            for c in range(prototypes.k_)))
    return float(min(1.0, max(0.0, 1.0 - float(torch.trace(post_cov)) / max(prior_trace, 1e-12))))


def _prototype_level_weights(
    posterior: PrototypePosterior, prototypes: PrototypeModel, n_members: int
) -> list[tuple[float, torch.Tensor]]:
    """For each prototype: (responsibility, (1 + m, K) its mean and the m members nearest to the user)."""
    user_mean, _ = posterior.moments()
    out = []
    for c in range(prototypes.k_):
        members = prototypes.members_[prototypes.member_labels_ == c]  # (M_c, K)
        if n_members > 0 and len(members):
            nearest = torch.cdist(user_mean.reshape(1, -1), members)[0].argsort()[:n_members]
            members = members[nearest]
        else:
            members = members[:0]
        out.append((float(posterior.responsibilities[c]), torch.cat([prototypes.means_[c : c + 1], members])))
    return out


def dual_granularity_proba(
    diffs: torch.Tensor,
    *,
    posterior: PrototypePosterior,
    prototypes: PrototypeModel,
    n_samples: int = 32,
    n_members: int = 5,
    confidence: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """(N,) probability that the first answer of each pair (``diffs`` (N, K) = φ(first) − φ(second)) is preferred."""
    d = torch.as_tensor(diffs, dtype=torch.float64)  # (N, K)
    samples = posterior.sample(n_samples, generator)  # (S, K)
    individual = torch.sigmoid(d @ samples.T).mean(1)  # (N,)
    proto = torch.zeros_like(individual)
    for resp, weights in _prototype_level_weights(posterior, prototypes, n_members):
        proto += resp * torch.sigmoid(d @ weights.T).mean(1)  # (N,)
    conf = user_confidence(posterior, prototypes) if confidence is None else confidence
    return conf * individual + (1 - conf) * proto


def dual_granularity_score(
    features: torch.Tensor,
    *,
    posterior: PrototypePosterior,
    prototypes: PrototypeModel,
    n_samples: int = 32,
    n_members: int = 5,
    confidence: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """(M,) blended reward of candidate answers ``features`` (M, K), for best-of-N reranking.

    Each level's rewards are standardised across the candidates before blending, so the levels share a scale.
    """
    f = torch.as_tensor(features, dtype=torch.float64)  # (M, K)

    def standardise(x: torch.Tensor) -> torch.Tensor:
        return (x - x.mean(0)) / x.std(0).clamp(min=1e-9) if x.shape[0] > 1 else x - x.mean(0)

    individual = standardise(f @ posterior.sample(n_samples, generator).T).mean(1)  # (M,)
    proto = torch.zeros_like(individual)
    for resp, weights in _prototype_level_weights(posterior, prototypes, n_members):
        proto += resp * standardise(f @ weights.T).mean(1)
    conf = user_confidence(posterior, prototypes) if confidence is None else confidence
    return conf * individual + (1 - conf) * proto
