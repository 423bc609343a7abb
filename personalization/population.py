"""Population-level models fitted from everyone's votes, and the per-user methods built on them.

``population_fit`` is the periodic job's pipeline: standardise the axes over the response pool, factorize all
votes into latent bases (``bank_refit``; PReF/LoRe), meta-learn the prior (``MetaPrior``; MRM) and cluster the
users into prototypes (``PrototypeModel``; P-GenRM). ``Population.proba`` gives each method's prediction for one
user from that user's votes; the benchmarks compare them.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import torch

from personalization.bank import BaseRewardBank
from personalization.factorization import FactorizationConfig, bank_refit
from personalization.meta import MetaPrior
from personalization.prototypes import PrototypeModel, PrototypePosterior
from personalization.scaling import dual_granularity_proba, dual_granularity_score
from personalization.user_model import UserRewardModel, user_fit

#: methods that adapt to the user's votes (the benchmarks add their own ``population`` and ``oracle``).
ADAPTIVE = ("zero-prior", "meta-prior", "prototypes", "tailor")


@dataclass
class PopulationConfig:
    """Settings of the population fit.

    ranks, user_l2, basis_l2, l2_scales: factorization (``FactorizationConfig``); meta_steps, robust_temperature:
    ``MetaPrior``; k_range, n_components: ``PrototypeModel``; n_members, n_samples: dual-granularity scoring; tie_strength:
    Davidson ν everywhere (0 for data without ties); seed.
    """

    ranks: tuple[int, ...] = (1, 2, 4, 8)
    user_l2: float = 1.0
    basis_l2: float = 1.0
    l2_scales: tuple[float, ...] = (0.1, 1.0, 10.0)
    meta_steps: int = 300
    robust_temperature: float | None = 1.0
    k_range: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
    n_components: int | None = 2
    n_members: int = 5
    n_samples: int = 32
    tie_strength: float = 0.5
    seed: int = 0


@dataclass
class Population:
    """Fitted bank, meta prior and prototypes (and the training users' weights they came from)."""

    bank: BaseRewardBank
    meta: MetaPrior
    prototypes: PrototypeModel
    user_weights: torch.Tensor  # (U, K) training users' weights from the factorization
    config: PopulationConfig

    def diffs(self, axes_first: torch.Tensor, emb_first: torch.Tensor, axes_second: torch.Tensor,
              emb_second: torch.Tensor) -> torch.Tensor:
        """(N, K) bank feature differences first − second."""
        return self.bank.pair_diffs(axes_first, emb_first, axes_second, emb_second)

    def user_fit(
        self, diffs: torch.Tensor, outcomes: torch.Tensor, strengths: torch.Tensor | None = None
    ) -> tuple[UserRewardModel, PrototypePosterior]:
        """One user's profile from stored votes (diffs (N, K) on this bank; "both bad" votes left out by the
        caller): the MAP + Laplace fit under the meta-learned prior, and the posterior over prototypes."""
        individual = user_fit(diffs=diffs, outcomes=outcomes, strengths=strengths, prior_mean=self.meta.mean_,
                              prior_precision=self.meta.precision_, tie_strength=self.meta.tie_strength)
        return individual, self.prototypes.posterior(diffs, outcomes, strengths, self.meta.tie_strength)

    def score(
        self, features: torch.Tensor, individual: UserRewardModel, posterior: PrototypePosterior,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """(M,) tailor reward of candidates ``features`` (M, K): dual-granularity test-time scaling."""
        return dual_granularity_score(features, posterior=posterior, prototypes=self.prototypes,
                                      individual=individual, n_samples=self.config.n_samples,
                                      n_members=self.config.n_members, generator=generator)

    def to_state(self) -> dict[str, object]:
        """JSON-safe state of the bank, prior and prototypes (the training users' weights live in prototypes)."""
        return {"bank": self.bank.to_state(), "meta": self.meta.to_state(), "prototypes": self.prototypes.to_state()}

    @classmethod
    def from_state(cls, state: dict[str, object], config: PopulationConfig | None = None) -> Population:
        prototypes = PrototypeModel.from_state(state["prototypes"])  # type: ignore[arg-type]
        return cls(bank=BaseRewardBank.from_state(state["bank"]),  # type: ignore[arg-type]
                   meta=MetaPrior.from_state(state["meta"]),  # type: ignore[arg-type]
                   prototypes=prototypes, user_weights=prototypes.members_, config=config or PopulationConfig())

    def proba(self, method: str, support: torch.Tensor, outcomes: torch.Tensor, query: torch.Tensor,
              generator: torch.Generator | None = None) -> torch.Tensor:
        """(Q,) P(first preferred) for ``query`` diffs (Q, K) after the user's ``support`` diffs (n, K)."""
        if method == "zero-prior":
            return torch.sigmoid(user_fit(diffs=support, outcomes=outcomes,
                                          tie_strength=self.config.tie_strength).score(query))
        if method == "meta-prior":
            return torch.sigmoid(self.meta.user_model().fit(support, outcomes).score(query))
        if method in ("prototypes", "tailor"):
            posterior = self.prototypes.posterior(support, outcomes, tie_strength=self.config.tie_strength)
            individual = self.meta.user_model().fit(support, outcomes) if method == "tailor" else None
            return dual_granularity_proba(query, posterior=posterior, prototypes=self.prototypes,
                                          individual=individual, n_samples=self.config.n_samples,
                                          n_members=self.config.n_members, generator=generator)
        raise ValueError(f"unknown method {method!r}: one of {ADAPTIVE}")


def population_fit(
    *,
    users: Sequence[Hashable],
    axes_first: torch.Tensor,
    axes_second: torch.Tensor,
    emb_first: torch.Tensor,
    emb_second: torch.Tensor,
    outcomes: torch.Tensor,
    pool_axes: torch.Tensor,
    config: PopulationConfig,
    meta_votes: VoteRows | None = None,
    previous: Population | None = None,
) -> Population:
    """Fit bank → meta prior → prototypes on training votes (one row per vote, ``users`` the voters).

    With ``meta_votes`` (other users' votes on other pairs), the meta prior and the prototypes are fitted on
    those instead, through the bank: the bank's latent features fit its own training votes better than a new
    user's, so a prior learned on the same votes would trust a few votes too much (cross-fitting).

    With ``previous`` (the last fit), the bank's version follows on from it and prototypes keep their ids
    (matched by shared members, so this survives the new bank).
    """
    version = 0 if previous is None else previous.bank.version
    bank = BaseRewardBank(version=version, encoder="" if previous is None else previous.bank.encoder)
    bank.fit_axes(pool_axes)
    bank, weights_by_user = bank_refit(
        bank=bank, users=users, axes_first=axes_first, axes_second=axes_second, emb_first=emb_first,
        emb_second=emb_second, outcomes=outcomes,
        config=FactorizationConfig(ranks=config.ranks, user_l2=config.user_l2, basis_l2=config.basis_l2,
                                   l2_scales=config.l2_scales, tie_strength=config.tie_strength, seed=config.seed),
    )
    weights = torch.stack(list(weights_by_user.values())).double()  # (U, K)
    keys: list[Hashable] = list(weights_by_user)
    if meta_votes is None:
        diffs = bank.pair_diffs(axes_first, emb_first, axes_second, emb_second)
        meta_users, meta_outcomes = list(users), outcomes
    else:
        diffs = bank.pair_diffs(meta_votes.axes_first, meta_votes.emb_first, meta_votes.axes_second,
                                meta_votes.emb_second)
        meta_users, meta_outcomes = list(meta_votes.users), meta_votes.outcomes
        weights, keys = _users_fit(bank, weights, meta_users, diffs, meta_outcomes)
    meta = MetaPrior(meta_steps=config.meta_steps, robust_temperature=config.robust_temperature,
                     tie_strength=config.tie_strength, seed=config.seed).fit(meta_users, diffs, meta_outcomes, init_mean=weights.mean(0))
    prototypes = PrototypeModel(k_range=config.k_range, n_components=config.n_components,
                                seed=config.seed).fit(weights, keys, previous=None if previous is None else
                                                      previous.prototypes)
    return Population(bank=bank, meta=meta, prototypes=prototypes, user_weights=weights, config=config)


@dataclass
class VoteRows:
    """Votes as parallel rows: voter, raw axis scores (N, A) and embeddings (N, d) of both answers, outcome."""

    users: Sequence[Hashable]
    axes_first: torch.Tensor
    axes_second: torch.Tensor
    emb_first: torch.Tensor
    emb_second: torch.Tensor
    outcomes: torch.Tensor


def _users_fit(
    bank: BaseRewardBank, reference: torch.Tensor, users: list[Hashable], diffs: torch.Tensor,
    outcomes: torch.Tensor,
) -> tuple[torch.Tensor, list[Hashable]]:
    """(U, K) MAP weights of each user under the factorized users' Gaussian (mean, diagonal variance)."""
    mean, precision = reference.mean(0), 1.0 / (reference.var(0) + 1e-2)
    rows: dict[Hashable, list[int]] = {}
    for i, user in enumerate(users):
        rows.setdefault(user, []).append(i)
    fitted = [user_fit(diffs=diffs[idx], outcomes=outcomes[idx], prior_mean=mean, prior_precision=precision).weights_
              for idx in rows.values()]
    return torch.stack(fitted), list(rows)
