"""The personalization methods compared by the benchmarks, trained once on training users' votes.

``suite_fit`` is the same pipeline the worker runs: standardise axes, factorize votes into latent bases
(``bank_refit``), meta-learn the prior (``MetaPrior``) and cluster users into prototypes (``PrototypeModel``).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import torch

from personalization.bank import BaseRewardBank
from personalization.factorization import FactorizationConfig, bank_refit
from personalization.meta import MetaPrior
from personalization.prototypes import PrototypeModel
from personalization.scaling import dual_granularity_proba
from personalization.user_model import user_fit

#: methods that adapt to the user's votes (the benchmarks add their own ``population`` and ``oracle``).
ADAPTIVE = ("zero-prior", "meta-prior", "prototypes", "tailor")


@dataclass
class SuiteConfig:
    """Training settings shared by the protocols."""

    ranks: tuple[int, ...] = (1, 2, 4, 8)
    user_l2: float = 1.0
    basis_l2: float = 1.0
    l2_scales: tuple[float, ...] = (0.1, 1.0, 10.0)
    meta_steps: int = 300
    robust_temperature: float | None = 1.0
    k_range: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
    n_members: int = 5
    n_samples: int = 32
    seed: int = 0


@dataclass
class Suite:
    """Fitted bank, meta prior and prototypes."""

    bank: BaseRewardBank
    meta: MetaPrior
    prototypes: PrototypeModel
    user_weights: torch.Tensor  # (U, K) training users' weights from the factorization
    config: SuiteConfig

    def diffs(self, axes_first: torch.Tensor, emb_first: torch.Tensor, axes_second: torch.Tensor,
              emb_second: torch.Tensor) -> torch.Tensor:
        """(N, K) bank feature differences first − second."""
        return (self.bank.features(axes_first, emb_first) - self.bank.features(axes_second, emb_second)).double()

    def proba(self, method: str, support: torch.Tensor, outcomes: torch.Tensor, query: torch.Tensor,
              generator: torch.Generator | None = None) -> torch.Tensor:
        """(Q,) P(first preferred) for ``query`` diffs (Q, K) after the user's ``support`` diffs (n, K)."""
        if method == "zero-prior":
            return torch.sigmoid(user_fit(diffs=support, outcomes=outcomes).score(query))
        if method == "meta-prior":
            return torch.sigmoid(self.meta.user_model().fit(support, outcomes).score(query))
        if method in ("prototypes", "tailor"):
            posterior = self.prototypes.posterior(support, outcomes)
            individual = self.meta.user_model().fit(support, outcomes) if method == "tailor" else None
            return dual_granularity_proba(query, posterior=posterior, prototypes=self.prototypes,
                                          individual=individual, n_samples=self.config.n_samples,
                                          n_members=self.config.n_members, generator=generator)
        raise ValueError(f"unknown method {method!r}: one of {ADAPTIVE}")


def suite_fit(
    *,
    users: Sequence[Hashable],
    axes_first: torch.Tensor,
    axes_second: torch.Tensor,
    emb_first: torch.Tensor,
    emb_second: torch.Tensor,
    outcomes: torch.Tensor,
    pool_axes: torch.Tensor,
    config: SuiteConfig,
) -> Suite:
    """Fit bank → meta prior → prototypes on training votes (one row per vote, ``users`` the voters)."""
    bank = BaseRewardBank(version=0).fit_axes(pool_axes)
    bank, weights_by_user = bank_refit(
        bank=bank, users=users, axes_first=axes_first, axes_second=axes_second, emb_first=emb_first,
        emb_second=emb_second, outcomes=outcomes,
        config=FactorizationConfig(ranks=config.ranks, user_l2=config.user_l2, basis_l2=config.basis_l2,
                                   l2_scales=config.l2_scales, seed=config.seed),
    )
    weights = torch.stack(list(weights_by_user.values())).double()  # (U, K)
    diffs = (bank.features(axes_first, emb_first) - bank.features(axes_second, emb_second)).double()
    meta = MetaPrior(meta_steps=config.meta_steps, robust_temperature=config.robust_temperature,
                     seed=config.seed).fit(users, diffs, outcomes, init_mean=weights.mean(0))
    prototypes = PrototypeModel(k_range=config.k_range, seed=config.seed).fit(weights, list(weights_by_user))
    return Suite(bank=bank, meta=meta, prototypes=prototypes, user_weights=weights, config=config)
