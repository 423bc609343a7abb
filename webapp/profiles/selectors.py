"""Reads for reward profiles: what the panel shows and what a refit needs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from django.db.models import Max

from webapp.profiles.models import BaseRewardBank, RewardProfile
from webapp.votes.models import Vote

if TYPE_CHECKING:
    from webapp.votes.selectors import Quality


@dataclass(frozen=True)
class AxisWeight:
    name: str
    label: str
    weight: float
    stddev: float

    # Pre-formatted for the panel, which every refit re-renders (Django's floatformat goes through Decimal and
    # was a third of that render): two decimals to read, three for the bar's CSS.
    @property
    def weight_text(self) -> str:
        return _fixed(self.weight, 2)

    @property
    def stddev_text(self) -> str:
        return _fixed(self.stddev, 2)

    @property
    def weight_css(self) -> str:
        return _fixed(self.weight, 3)

    @property
    def stddev_css(self) -> str:
        return _fixed(self.stddev, 3)


def _fixed(value: float, digits: int) -> str:
    """``value`` with ``digits`` decimals, never "-0.00" (as floatformat)."""
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


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


def bank_active_id() -> int | None:
    return BaseRewardBank.objects.filter(is_active=True).values_list("pk", flat=True).first()


def profiles_behind(limit: int = 500) -> list[int]:
    """Users whose newest vote is newer than what their profile was fitted on (or who have no profile yet)."""
    newest = Vote.objects.values("user_id").annotate(newest=Max("id"))
    fitted = dict(RewardProfile.objects.values_list("user_id", "fitted_vote_id"))
    behind = [row["user_id"] for row in newest if row["newest"] > fitted.get(row["user_id"], 0)]
    # Profiles whose votes were all deleted still need a refit back to the prior.
    voters = {row["user_id"] for row in newest}
    behind += [uid for uid, vid in fitted.items() if vid and uid not in voters]
    # A new bank version: every profile is refitted onto it from its stored votes.
    active = bank_active_id()
    if active is not None:
        stale = RewardProfile.objects.exclude(bank_id=active).exclude(bank_id=None)
        behind += [uid for uid in stale.values_list("user_id", flat=True) if uid not in behind]
    return behind[:limit]


@dataclass(frozen=True)
class ShapingVote:
    prompt: str
    chosen: str
    other: str
    choice: str
    contribution: float


class WeightHistory(TypedDict):
    """The weight chart: the vote count at each stored snapshot and each axis's weight there (None where the
    snapshot's bank had fewer axes)."""

    votes: list[int]
    series: dict[str, list[float | None]]


@dataclass(frozen=True)
class ProfileDetail:
    """Everything /me/ shows; each part is also pushed live after a refit."""

    view: ProfileView
    history: WeightHistory
    shaping: list[ShapingVote]
    prototype_id: int | None
    prototype_confidence: float | None
    summary: str
    quality: Quality | None = None
    prototype_name: str = ""
    prototype_summary: str = ""
    summary_edited: bool = False
    summary_axes: dict[str, float] | None = None
    #: no votes and no words of their own: what the page shows is where everyone starts, not this person's taste
    starting_point: bool = False


def profile_detail(*, user_id: int, confident_votes: int = 20) -> ProfileDetail:
    from webapp.votes.selectors import quality_get

    view = profile_get(user_id=user_id, confident_votes=confident_votes)
    quality = quality_get(user_id=user_id)
    profile = RewardProfile.objects.filter(user_id=user_id).first()
    if profile is None:
        return ProfileDetail(view=view, history={"votes": [], "series": {}}, shaping=[], prototype_id=None,
                             prototype_confidence=None, summary="", quality=quality, starting_point=True)
    snapshots = list(profile.snapshots.order_by("version").values("version", "weights", "vote_count")[:500])
    names = [axis.name for axis in view.axes]
    history: WeightHistory = {
        "votes": [s["vote_count"] for s in snapshots],
        "series": {name: [s["weights"][i] if i < len(s["weights"]) else None for s in snapshots]
                   for i, name in enumerate(names)},
    }
    contributions = {int(vote_id): float(c) for vote_id, c in profile.influential_votes}
    votes = Vote.objects.filter(pk__in=contributions, user_id=user_id).select_related(
        "pair__prompt", "pair__left", "pair__right")
    shaping = []
    for vote in votes:
        left, right = vote.pair.left.text, vote.pair.right.text
        chosen, other = (right, left) if vote.choice == Vote.Choice.RIGHT else (left, right)
        shaping.append(ShapingVote(prompt=vote.pair.prompt.text, chosen=chosen, other=other, choice=vote.choice,
                                   contribution=contributions[vote.pk]))
    shaping.sort(key=lambda s: -s.contribution)
    from webapp.prototypes.models import Prototype

    prototype = Prototype.objects.filter(key=profile.prototype_id).first() if profile.prototype_id is not None else None
    starting_point = view.vote_count == 0 and not profile.summary_edited
    summary = profile.summary.replace("You prefer", "People prefer") if starting_point else profile.summary
    return ProfileDetail(view=view, history=history, shaping=shaping, prototype_id=profile.prototype_id,
                         prototype_confidence=profile.prototype_confidence, summary=summary,
                         starting_point=starting_point,
                         quality=quality, prototype_name=str(prototype) if prototype else "",
                         prototype_summary=prototype.summary if prototype else "",
                         summary_edited=profile.summary_edited, summary_axes=profile.summary_axes or {})


def user_data_export(*, user_id: int) -> dict[str, object]:
    """A user's own data as JSON: every vote with the texts they saw, and their profile."""
    votes = Vote.objects.filter(user_id=user_id).select_related("pair__prompt", "pair__left", "pair__right")
    profile = RewardProfile.objects.select_related("bank").filter(user_id=user_id).first()
    return {
        "votes": [
            {
                "id": v.pk, "idempotency_key": str(v.idempotency_key), "created_at": v.created_at.isoformat(),
                "prompt": v.pair.prompt.text, "left": v.pair.left.text, "right": v.pair.right.text,
                "choice": v.choice, "strength": v.strength, "rationale": v.rationale,
                "time_to_vote_ms": v.time_to_vote_ms, "pair_source": v.pair.source,
            }
            for v in votes.order_by("id")
        ],
        "profile": None if profile is None else {
            "version": profile.version, "vote_count": profile.vote_count,
            "axes": list(profile.bank.names) if profile.bank else [], "weights": profile.weights,
            "covariance": profile.covariance, "prototype_id": profile.prototype_id,
            "prototype_confidence": profile.prototype_confidence, "summary": profile.summary,
            "summary_edited": profile.summary_edited,
        },
    }
