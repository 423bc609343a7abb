"""Writes for reward profiles and banks. Called by workers with numbers the ML library computed."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from django.db import transaction

from webapp.profiles.models import BaseRewardBank, ProfileSnapshot, RewardProfile


@dataclass(frozen=True)
class ProfileFit:
    """What a refit produced, as plain JSON-safe numbers."""

    bank_id: int
    weights: list[float]
    covariance: list[list[float]]
    vote_count: int
    fitted_vote_id: int
    suggested_pairs: list[list[int]] | None = None  # None keeps the stored ones (the follower writes them)
    influential_votes: list[list[float]] = field(default_factory=list)
    summary: str | None = None  # None keeps the stored summary


def _check_fit(fit: ProfileFit) -> None:
    k = len(fit.weights)
    if len(fit.covariance) != k or any(len(row) != k for row in fit.covariance):
        raise ValueError("covariance must be K x K for K weights")
    if not all(math.isfinite(x) for x in fit.weights) or not all(math.isfinite(x) for r in fit.covariance for x in r):
        raise ValueError("weights and covariance must be finite")


@transaction.atomic
def profile_fit_store(*, user_id: int, expected_version: int, fit: ProfileFit) -> int | None:
    """Store a fit if nobody stored another since ``expected_version`` was read; return the new version or None.

    The claim ``filter(version=expected).update(version=expected + 1)`` makes concurrent refits of one user safe:
    exactly one wins each version, the loser refits again from the stored votes.
    """
    _check_fit(fit)
    profile, _ = RewardProfile.objects.get_or_create(user_id=user_id)
    new_version = expected_version + 1
    changes: dict[str, object] = {} if fit.summary is None else {"summary": fit.summary}
    if fit.suggested_pairs is not None:
        changes["suggested_pairs"] = fit.suggested_pairs
    claimed = RewardProfile.objects.filter(pk=profile.pk, version=expected_version).update(
        **changes,
        version=new_version,
        bank_id=fit.bank_id,
        weights=fit.weights,
        covariance=fit.covariance,
        vote_count=fit.vote_count,
        fitted_vote_id=fit.fitted_vote_id,
        influential_votes=fit.influential_votes,
    )
    if claimed != 1:
        return None
    ProfileSnapshot.objects.create(
        profile=profile,
        version=new_version,
        weights=fit.weights,
        stddev=[math.sqrt(max(fit.covariance[i][i], 0.0)) for i in range(len(fit.weights))],
        vote_count=fit.vote_count,
    )
    return new_version


def profile_follow_store(*, user_id: int, version: int, suggested_pairs: list[list[int]],
                         summary: str | None, summary_weights: list[float] | None) -> bool:
    """Store what follows a refit (the next pairs to ask, a refreshed summary and the weights it was written
    from) only onto the version it was computed from: a newer refit's own follower covers it otherwise. The
    version is not bumped: the weights did not change."""
    changes: dict[str, object] = {"suggested_pairs": suggested_pairs}
    if summary is not None:
        changes["summary"], changes["summary_weights"] = summary, summary_weights or []
    return RewardProfile.objects.filter(user_id=user_id, version=version).update(**changes) == 1


@transaction.atomic
def bank_activate(*, version: int, encoder: str, names: list[str], state: dict[str, object], notes: str = "") -> BaseRewardBank:
    """Store a new bank version and make it the active one (the previous one stays for refits and audits)."""
    BaseRewardBank.objects.filter(is_active=True).update(is_active=False)
    return BaseRewardBank.objects.create(
        version=version, encoder=encoder, names=names, state=state, is_active=True, notes=notes
    )


MAX_SUMMARY_CHARS = 600


class SummaryRejected(ValueError):
    """The edited summary cannot be stored; ``str(exc)`` is safe to show."""


@transaction.atomic
def summary_edit(*, user_id: int, text: str) -> RewardProfile:
    """Keep the user's own words as their summary; a worker maps them onto the axes and nudges the prior.

    An empty text hands the summary back to Tailor (the grounded summary is rewritten at the next refit).
    """
    from workers.enqueue import summary_apply_enqueue

    text = text.strip()
    if len(text) > MAX_SUMMARY_CHARS:
        raise SummaryRejected(f"a summary is limited to {MAX_SUMMARY_CHARS} characters")
    profile, _ = RewardProfile.objects.get_or_create(user_id=user_id)
    profile.summary, profile.summary_edited = text, bool(text)
    if not text:
        profile.summary_axes = {}
    profile.save(update_fields=["summary", "summary_edited", "summary_axes", "updated_at"])
    summary_apply_enqueue(user_id=user_id)
    return profile
