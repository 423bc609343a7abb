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
from personalization.mixture import BradleyTerryMixture, bank_refit_mixture
from personalization.prototypes import PrototypeModel, PrototypePosterior
from personalization.scaling import dual_granularity_proba, dual_granularity_score
from personalization.user_model import UserRewardModel, log_evidence, user_fit

#: methods that adapt to the user's votes (the benchmarks add their own ``population`` and ``oracle``).
ADAPTIVE = ("zero-prior", "meta-prior", "prototypes", "tailor")
#: how a population fit learns its latent bases and prototypes (``PopulationConfig.bases``).
BASES = ("mixture", "factorization")


@dataclass
class PopulationConfig:
    """Settings of the population fit.

    bases: how the latent bases and prototypes are learned: ``mixture`` (a mixture of Bradley–Terry rewards over
    whole users, ``mixture.BradleyTerryMixture``: its prototypes' rewards are the latent bases, k chosen in
    ``k_range`` by held-out users) or ``factorization`` (low-rank factorization, then a Gaussian mixture over the
    users' weights). ranks, user_l2, basis_l2, l2_scales: factorization (``FactorizationConfig``);
    mixture_precision: the mixture's prior precision on each prototype's reward (``None``: ``user_l2``);
    meta_steps, robust_temperature:
    ``MetaPrior``; k_range, n_components: ``PrototypeModel``; n_members, n_samples: dual-granularity scoring; tie_strength:
    Davidson ν everywhere (0 for data without ties); seed.
    """

    bases: str = "mixture"
    ranks: tuple[int, ...] = (1, 2, 4, 8)
    user_l2: float = 1.0
    basis_l2: float = 1.0
    l2_scales: tuple[float, ...] = (0.1, 1.0, 10.0)
    mixture_precision: float | None = None
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
        """(M,) tailor reward of candidates ``features`` (M, K): dual-granularity test-time scaling with the meta
        prior's fit as the individual level, as the compare worker ranks best-of-N candidates."""
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
            settings = {"posterior": posterior, "prototypes": self.prototypes, "n_samples": self.config.n_samples,
                        "n_members": self.config.n_members, "generator": generator}
            by_prototypes = dual_granularity_proba(query, **settings)  # type: ignore[arg-type]
            if method == "prototypes":
                return by_prototypes
            individual = self.meta.user_model().fit(support, outcomes)
            share = meta_share(individual, posterior)
            by_meta = dual_granularity_proba(query, individual=individual, **settings)  # type: ignore[arg-type]
            return share * by_meta + (1 - share) * by_prototypes
        raise ValueError(f"unknown method {method!r}: one of {ADAPTIVE}")


def meta_share(individual: UserRewardModel, posterior: PrototypePosterior) -> float:
    """Posterior probability that the meta-learned Gaussian prior, rather than the prototype mixture, explains the
    user's votes (Bayesian model averaging of the two priors by their Laplace evidence; ½ before any vote).

    Where users fall into types (a mixture prior fits), a few votes place a user better than one Gaussian can;
    where they spread out evenly, the meta prior's individual fit wins. The evidence decides per user.
    """
    if individual.n_votes_ == 0:
        return 0.5
    return float(torch.sigmoid(torch.tensor(log_evidence(individual) - posterior.log_evidence)))


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
    if config.bases not in BASES:
        raise ValueError(f"bases must be one of {BASES}, not {config.bases!r}")
    version = 0 if previous is None else previous.bank.version
    bank = BaseRewardBank(version=version, encoder="" if previous is None else previous.bank.encoder)
    bank.fit_axes(pool_axes)
    if config.bases == "mixture" and meta_votes is None:
        return _mixture_population_fit(bank=bank, users=users, axes_first=axes_first, axes_second=axes_second,
                                       emb_first=emb_first, emb_second=emb_second, outcomes=outcomes,
                                       config=config, previous=previous)
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


def _mixture_population_fit(
    *, bank: BaseRewardBank, users: Sequence[Hashable], axes_first: torch.Tensor, axes_second: torch.Tensor,
    emb_first: torch.Tensor, emb_second: torch.Tensor, outcomes: torch.Tensor, config: PopulationConfig,
    previous: Population | None,
) -> Population:
    """Bases and prototypes from a mixture of Bradley–Terry rewards over whole users, then the meta prior."""
    precision = config.user_l2 if config.mixture_precision is None else config.mixture_precision
    bank, means, mixture = bank_refit_mixture(
        bank=bank, users=users, axes_first=axes_first, axes_second=axes_second, emb_first=emb_first,
        emb_second=emb_second, outcomes=outcomes,
        mixture=BradleyTerryMixture(k_range=config.k_range, prior_precision=precision,
                                    tie_strength=config.tie_strength, seed=config.seed))
    prototypes = PrototypeModel.from_mixture(
        means, mixture.mix_, mixture.responsibilities_, mixture.users_,
        previous=None if previous is None else previous.prototypes,
        criterion_scores={k: -v for k, v in mixture.val_nll_.items()})
    weights = prototypes.members_  # (U, K) each training user's expected weights
    diffs = bank.pair_diffs(axes_first, emb_first, axes_second, emb_second)
    meta = MetaPrior(meta_steps=config.meta_steps, robust_temperature=config.robust_temperature,
                     tie_strength=config.tie_strength, seed=config.seed).fit(list(users), diffs, outcomes,
                                                                             init_mean=weights.mean(0))
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
