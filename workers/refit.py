"""Profile refits: the loop and nothing else. Read the stored votes, fit with the ML library, store with a
version claim, push the new weights, and hand everything that follows (suggestions, summary, a demo guest's
panel, the staff map, webhooks) to ``workers.follow`` through one coalesced "profile refitted" task."""

from __future__ import annotations

import logging
import math

import torch
from django.db.models import Count, Max

from personalization.bank import BaseRewardBank
from personalization.user_model import OUTCOME_TIE
from webapp.profiles import selectors as profile_selectors
from webapp.profiles import services as profile_services
from webapp.profiles.models import RewardProfile
from webapp.votes.models import Vote
from workers.enqueue import profile_follow_send
from workers.features import bank_ensure
from workers.posterior import COLD_START_VOTES, user_posterior
from workers.pushes import profile_push

log = logging.getLogger(__name__)

MAX_CLAIM_ATTEMPTS = 3
INFLUENTIAL_VOTES = 3


def _votes_seen(user_id: int) -> dict[str, int | None]:
    """How many votes the user has and the newest one's id (``n``, ``newest``)."""
    return Vote.objects.filter(user_id=user_id).aggregate(n=Count("id"), newest=Max("id"))


def profile_fit(*, user_id: int, bank_id: int, bank: BaseRewardBank, profile: RewardProfile | None,
                all_votes: dict[str, int | None]) -> profile_services.ProfileFit:
    """Fit a user's weights from all their stored votes (both-bad votes are kept but carry no preference).
    ``all_votes`` (from ``_votes_seen``) was read before ``profile``: the fit covers exactly the votes up to its
    newest id, and a vote arriving meanwhile is newer than fitted_vote_id, so its own task refits it."""
    fitted = user_posterior(user_id=user_id, bank_id=bank_id, bank=bank, up_to_id=all_votes["newest"] or 0,
                            profile=profile)
    w, cov = fitted.individual.weights_.cpu(), fitted.individual.covariance_.cpu()
    # how much each vote pulls the weights its way: strength × margin of the observed side under w
    pull = fitted.strengths * fitted.outcomes.double() * (fitted.diffs @ w)  # (N,)
    top = torch.argsort(pull, descending=True)[:INFLUENTIAL_VOTES]
    influential = [[float(fitted.votes[i].id), round(float(pull[i]), 4)] for i in top.tolist()
                   if fitted.outcomes[i] != OUTCOME_TIE and float(pull[i]) > 0]
    if (fitted.prototypes is not None and len(fitted.votes) < COLD_START_VOTES
            and not (profile and profile.summary_edited) and fitted.posterior is not None):
        # P-GenRM: while a user has few votes, their posterior under the prototype-level prior (a mixture over
        # similar users' weights, each component updated by the user's votes) borrows from similar users.
        w, cov = fitted.posterior.moments()
    if not all(math.isfinite(float(x)) for x in w.tolist()):
        raise ValueError(f"refit of user {user_id} gave non-finite weights")
    return profile_services.ProfileFit(
        bank_id=bank_id, weights=w.tolist(), covariance=cov.tolist(), vote_count=int(all_votes["n"] or 0),
        fitted_vote_id=all_votes["newest"] or 0, suggested_pairs=None, influential_votes=influential,
    )


def summary_apply_run(*, user_id: int) -> int | None:
    """Read the user's edited summary onto the axes, store the nudge, refit and push."""
    from personalization.summaries import summary_to_axes

    profile = RewardProfile.objects.filter(user_id=user_id).first()
    if profile is None:
        return None
    axes = summary_to_axes(profile.summary) if profile.summary_edited else {}
    # fitted_vote_id = -1 marks the profile as behind, so the refit below (or the reconciler) uses the new prior
    RewardProfile.objects.filter(pk=profile.pk).update(summary_axes=axes, fitted_vote_id=-1)
    return profile_refit_run(user_id=user_id)


def profile_refit_run(*, user_id: int) -> int | None:
    """Bring one user's profile up to date with their stored votes; return the stored version (None: nothing to do).

    Idempotent: a profile already fitted through the user's newest vote is left alone.
    """
    from django.contrib.auth import get_user_model

    for _ in range(MAX_CLAIM_ATTEMPTS):
        # the votes first, then the profile: a vote stored in between is newer than what this fit claims
        all_votes = _votes_seen(user_id)
        current = RewardProfile.objects.filter(user_id=user_id).first()
        if current is None and not get_user_model().objects.filter(pk=user_id).exists():
            return None  # user deleted meanwhile (a profile goes with its user): nothing to fit
        newest = all_votes["newest"] or 0
        expected = current.version if current else 0
        up_to_date = current is not None and current.fitted_vote_id == newest and expected > 0
        if up_to_date and current is not None and current.bank_id == profile_selectors.bank_active_id():
            return None  # nothing new (another task covered this vote): no bank state to load
        bank_id, bank = bank_ensure()
        fit = profile_fit(user_id=user_id, bank_id=bank_id, bank=bank, profile=current, all_votes=all_votes)
        version = profile_services.profile_fit_store(user_id=user_id, expected_version=expected, fit=fit)
        if version is not None:
            profile_push(user_id=user_id, version=version, source="refit")
            profile_follow_send(user_id=user_id)
            return version
        log.info("profile of user %s changed during refit; refitting again", user_id)
    raise RuntimeError(f"could not claim profile of user {user_id} after {MAX_CLAIM_ATTEMPTS} attempts")
