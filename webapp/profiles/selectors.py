"""Reads for reward profiles: what the panel shows and what a refit needs."""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.db.models import Max

from webapp.profiles.models import BaseRewardBank, RewardProfile
from webapp.votes.models import Vote


@dataclass(frozen=True)
class AxisWeight:
    name: str
    label: str
    weight: float
    stddev: float


@dataclass(frozen=True)
class ProfileView:
    version: int
    vote_count: int
    axes: list[AxisWeight]
    confident_votes: int

    @property
    def votes_to_confident(self) -> int:
        return max(self.confident_votes - self.vote_count, 0)


def _label(name: str) -> str:
    return name.replace("_", " ")


def profile_get(*, user_id: int, confident_votes: int = 20) -> ProfileView:
    """The profile panel's content; an empty profile (version 0) before the first fit."""
    profile = RewardProfile.objects.select_related("bank").filter(user_id=user_id).first()
    if profile is None or profile.bank is None:
        return ProfileView(version=0 if profile is None else profile.version, vote_count=0, axes=[],
                           confident_votes=confident_votes)
    names: list[str] = list(profile.bank.names)
    axes = [
        AxisWeight(
            name=name, label=_label(name), weight=float(profile.weights[i]),
            stddev=math.sqrt(max(float(profile.covariance[i][i]), 0.0)),
        )
        for i, name in enumerate(names)
        if i < len(profile.weights)
    ]
    return ProfileView(version=profile.version, vote_count=profile.vote_count, axes=axes,
                       confident_votes=confident_votes)


def bank_active() -> BaseRewardBank | None:
    return BaseRewardBank.objects.filter(is_active=True).first()


def profiles_behind(limit: int = 500) -> list[int]:
    """Users whose newest vote is newer than what their profile was fitted on (or who have no profile yet)."""
    newest = Vote.objects.values("user_id").annotate(newest=Max("id"))
    fitted = dict(RewardProfile.objects.values_list("user_id", "fitted_vote_id"))
    behind = [row["user_id"] for row in newest if row["newest"] > fitted.get(row["user_id"], 0)]
    # Profiles whose votes were all deleted still need a refit back to the prior.
    voters = {row["user_id"] for row in newest}
    behind += [uid for uid, vid in fitted.items() if vid and uid not in voters]
    return behind[:limit]
