"""Dual-granularity test-time scaling of a user's reward (P-GenRM, "Personalized generative reward models with
test-time user-based scaling"): the individual level averages over posterior samples of the user's weights; the
prototype level averages over the user's prototypes and their members nearest to the user; the two are blended
by the user's confidence (how far the votes have shrunk the posterior below the prior).
"""

from __future__ import annotations

import torch

from personalization.prototypes import PrototypeModel, PrototypePosterior
from personalization.user_model import UserRewardModel


def user_confidence(
    posterior: PrototypePosterior | UserRewardModel, prototypes: PrototypeModel, probe: torch.Tensor | None = None
) -> float:
    """How far the votes have pinned the user down, in [0, 1]: 0 for a cold-start user, → 1 with many votes.

    1 − (posterior variance / prior variance) of the rewards along ``probe`` directions (N, K) — the pairs or
    candidates being scored, so only what matters for them counts — or of the weights themselves (traces) without
    a probe. The prior is the prototype mixture, or the model's own prior for a single ``UserRewardModel``.
    """
    if isinstance(posterior, UserRewardModel):
        post_cov, prior_cov = posterior.covariance_, torch.linalg.inv(posterior.prior_precision_)
    else:
        post_cov = posterior.moments()[1]
        r = prototypes.mix_
        spread = prototypes.means_ - r @ prototypes.means_  # (k, K)
        prior_cov = sum((float(r[c]) * (prototypes.covariances_[c] + torch.outer(spread[c], spread[c]))
                         for c in range(prototypes.k_)), torch.zeros_like(post_cov))
    if probe is None:
        post, prior = float(torch.trace(post_cov)), float(torch.trace(prior_cov))
    else:
        d = torch.as_tensor(probe, dtype=torch.float64)  # (N, K)
        post, prior = float(((d @ post_cov) * d).sum()), float(((d @ prior_cov) * d).sum())
    return float(min(1.0, max(0.0, 1.0 - post / max(prior, 1e-12))))


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
    individual: UserRewardModel | None = None,
    n_samples: int = 32,
    n_members: int = 5,
    confidence: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """(N,) probability that the first answer of each pair (``diffs`` (N, K) = φ(first) − φ(second)) is preferred.

    ``individual`` (e.g. a fit under the meta-learned prior) replaces the prototype posterior at the individual
    level; the prototype level always uses ``posterior``'s responsibilities.
    """
    d = torch.as_tensor(diffs, dtype=torch.float64)  # (N, K)
    source = posterior if individual is None else individual
    samples = source.sample(n_samples, generator)  # (S, K)
    individual_level = torch.sigmoid(d @ samples.T).mean(1)  # (N,)
    proto = torch.zeros_like(individual_level)
    for resp, weights in _prototype_level_weights(posterior, prototypes, n_members):
        proto += resp * torch.sigmoid(d @ weights.T).mean(1)  # (N,)
    conf = user_confidence(source, prototypes, probe=d) if confidence is None else confidence
    return conf * individual_level + (1 - conf) * proto


def dual_granularity_score(
    features: torch.Tensor,
    *,
    posterior: PrototypePosterior,
    prototypes: PrototypeModel,
    individual: UserRewardModel | None = None,
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

    source = posterior if individual is None else individual
    individual_level = standardise(f @ source.sample(n_samples, generator).T).mean(1)  # (M,)
    proto = torch.zeros_like(individual_level)
    for resp, weights in _prototype_level_weights(posterior, prototypes, n_members):
        proto += resp * standardise(f @ weights.T).mean(1)
    conf = user_confidence(source, prototypes, probe=f - f.mean(0)) if confidence is None else confidence
    return conf * individual_level + (1 - conf) * proto
