"""What a user's stored votes say on a bank: the individual fit under the (meta-learned, summary-nudged) prior and
the posterior over the newest prototypes. Shared by refits, compare jobs and scoring; imports only leaves."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import torch

from personalization.bank import BaseRewardBank
from personalization.prototypes import PrototypeModel, PrototypePosterior
from personalization.user_model import UserRewardModel, user_fit
from webapp.profiles.models import BaseRewardBank as BaseRewardBankRow
from webapp.profiles.models import RewardProfile
from webapp.votes import selectors as vote_selectors
from workers.config import worker_config
from workers.features import OUTCOME, STRENGTH_WEIGHT, response_features

#: below this many preference votes, a user's weights come from the prototype-level posterior
COLD_START_VOTES = 10
#: how far an edited summary moves the prior mean on an axis it mentions (in weight units; votes outweigh it)
SUMMARY_NUDGE = 1.0


def prototype_model_latest(bank_id: int, k: int) -> PrototypeModel | None:
    """The newest prototype clustering, if it was made on this bank (None before the first one)."""
    from webapp.prototypes.models import Prototype, PrototypeFit

    version = PrototypeFit.objects.order_by("-version").values_list("version", flat=True).first()
    banks = set(Prototype.objects.exclude(status=Prototype.Status.RETIRED).values_list("bank_id", flat=True))
    if version is None or banks != {bank_id}:
        return None
    model = _prototype_model(version)
    return model if model is not None and int(model.means_.shape[1]) == k else None


@lru_cache(maxsize=2)
def _prototype_model(version: int) -> PrototypeModel | None:
    from webapp.prototypes.models import PrototypeFit

    state = PrototypeFit.objects.filter(version=version).values_list("state", flat=True).first()
    return PrototypeModel.from_state(state) if state else None


@lru_cache(maxsize=4)
def bank_prior(bank_id: int, version: int) -> tuple[torch.Tensor | None, float | torch.Tensor]:
    """The bank's meta-learned prior (MRM) when its refit learned one: (mean (K,), precision (K,)); else the
    configured isotropic precision and no mean. Bank rows never change once written, so this caches by id and
    version."""
    from personalization.meta import MetaPrior

    state = (BaseRewardBankRow.objects.filter(pk=bank_id, version=version).values_list("state", flat=True).first()
             or {})
    if "prior" not in state:
        return None, worker_config().prior_precision
    prior = MetaPrior.from_state(state["prior"])
    return prior.mean_.double(), prior.precision_.double()


def summary_prior_mean(bank: BaseRewardBank, summary_axes: dict[str, float]) -> torch.Tensor:
    """Prior mean implied by the user's own words: ``SUMMARY_NUDGE × delta`` on each axis they mention."""
    mean = torch.zeros(bank.dim, dtype=torch.float64)
    for i, name in enumerate(bank.names_):
        mean[i] = SUMMARY_NUDGE * float(summary_axes.get(name, 0.0))
    return mean


@dataclass
class UserPosterior:
    """What a user's stored votes say on one bank: the preference votes (oldest first) as rows, the individual
    MAP + Laplace fit under the (meta-learned, summary-nudged) prior, and the posterior over the newest prototypes
    (None before the first clustering on this bank)."""

    votes: list[vote_selectors.FitVote]
    diffs: torch.Tensor  # (N, K) φ(left) − φ(right)
    outcomes: torch.Tensor  # (N,) in {1, −1, 0}
    strengths: torch.Tensor  # (N,) likelihood weights
    individual: UserRewardModel
    prototypes: PrototypeModel | None
    tie_strength: float

    @cached_property
    def posterior(self) -> PrototypePosterior | None:
        """The posterior under the prototype-level mixture prior (P-GenRM); computed on first use."""
        if self.prototypes is None:
            return None
        return self.prototypes.posterior(self.diffs, self.outcomes, self.strengths, self.tie_strength)


def user_posterior(*, user_id: int, bank_id: int, bank: BaseRewardBank, up_to_id: int,
                   profile: RewardProfile | None) -> UserPosterior:
    """Fit a user from their stored votes up to ``up_to_id`` ("both bad" votes carry no preference)."""
    config = worker_config()
    votes = vote_selectors.votes_for_fit(user_id=user_id, up_to_id=up_to_id)
    preference_votes = [v for v in votes if v.choice in OUTCOME]
    k = bank.dim
    meta_mean, prior_precision = bank_prior(bank_id, bank.version)
    nudge = summary_prior_mean(bank, profile.summary_axes if profile is not None else {})
    prior_mean = nudge if meta_mean is None else meta_mean + nudge
    if preference_votes:
        left = response_features(bank, [v.left_scores for v in preference_votes],
                                 [v.left_id for v in preference_votes])  # (N, K)
        right = response_features(bank, [v.right_scores for v in preference_votes],
                                  [v.right_id for v in preference_votes])  # (N, K)
        diffs = (left - right).double()  # (N, K)
        outcomes = torch.tensor([OUTCOME[v.choice] for v in preference_votes])  # (N,)
        strengths = torch.tensor([STRENGTH_WEIGHT[v.strength] for v in preference_votes], dtype=torch.float64)
    else:
        diffs, outcomes = torch.zeros(0, k, dtype=torch.float64), torch.zeros(0, dtype=torch.int64)
        strengths = torch.zeros(0, dtype=torch.float64)
    individual = user_fit(diffs=diffs, outcomes=outcomes, strengths=strengths, prior_mean=prior_mean,
                          prior_precision=prior_precision, tie_strength=config.tie_strength, device=config.device)
    return UserPosterior(votes=preference_votes, diffs=diffs, outcomes=outcomes, strengths=strengths,
                         individual=individual, prototypes=prototype_model_latest(bank_id, k),
                         tie_strength=config.tie_strength)
