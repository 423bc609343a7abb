"""Quality control reads: per-voter figures with flags, the flagged set, and agreement within each prototype.

The per-voter figures (gold accuracy, repeat consistency, position bias, time to vote) are the ones ``/me/``
shows (``webapp.votes.selectors.quality_get``), computed here for every voter at once; a voter is flagged when
a figure that rests on enough votes crosses its threshold (``TAILOR_QUALITY``). Flagged voters stay out of the
shared base-reward-bank refit; their own profile still learns from all their votes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import cast

from django.contrib.auth import get_user_model
from django.db.models import Count, F, Q

from webapp.quality.config import QualityConfig, quality_config
from webapp.votes.models import Pair, Vote


@dataclass(frozen=True)
class VoterQuality:
    user_id: int
    username: str
    votes: int
    gold_votes: int
    gold_accuracy: float | None
    repeat_votes: int
    repeat_consistency: float | None
    sided_votes: int
    left_share: float | None
    timed_votes: int
    fast_share: float | None
    flags: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return bool(self.flags)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _repeat_figures(user_ids: list[int] | None) -> dict[int, tuple[int, int]]:
    """user id → (repeat votes whose original was voted, consistent ones)."""
    votes = Vote.objects.filter(pair__source=Pair.Source.REPEAT, pair__repeat_of__vote__isnull=False)
    if user_ids is not None:
        votes = votes.filter(user_id__in=user_ids)
    rows = votes.values_list("user_id", "choice", "pair__left_id", "pair__right_id", "pair__repeat_of__vote__choice",
                             "pair__repeat_of__left_id", "pair__repeat_of__right_id")
    figures: dict[int, list[int]] = {}
    for user_id, choice, left, right, old_choice, old_left, old_right in rows:
        if old_choice in (Vote.Choice.TIE, Vote.Choice.BOTH_BAD) or choice in (Vote.Choice.TIE, Vote.Choice.BOTH_BAD):
            same = choice == old_choice
        else:
            same = {"left": left, "right": right}[choice] == {"left": old_left, "right": old_right}[old_choice]
        counts = figures.setdefault(user_id, [0, 0])
        counts[0] += 1
        counts[1] += int(same)
    return {uid: (n, ok) for uid, (n, ok) in figures.items()}


def _flags(q: VoterQuality, config: QualityConfig) -> list[str]:
    flags = []
    if q.gold_votes >= config.min_gold_votes and (q.gold_accuracy or 0.0) < config.min_gold_accuracy:
        flags.append(f"gold accuracy {q.gold_accuracy:.0%} < {config.min_gold_accuracy:.0%}")
    if q.repeat_votes >= config.min_repeat_votes and (q.repeat_consistency or 0.0) < config.min_repeat_consistency:
        flags.append(f"repeat consistency {q.repeat_consistency:.0%} < {config.min_repeat_consistency:.0%}")
    if q.sided_votes >= config.min_sided_votes and q.left_share is not None:
        side_share = max(q.left_share, 1.0 - q.left_share)
        if side_share > config.max_side_share:
            side = "left" if q.left_share >= 0.5 else "right"
            flags.append(f"position bias: {side_share:.0%} {side} > {config.max_side_share:.0%}")
    if q.timed_votes >= config.min_timed_votes and (q.fast_share or 0.0) > config.max_fast_share:
        flags.append(f"{q.fast_share:.0%} of votes under {config.fast_vote_ms} ms > {config.max_fast_share:.0%}")
    return flags


def voters_quality(*, user_ids: list[int] | None = None) -> list[VoterQuality]:
    """Quality figures and flags of every voter (or of ``user_ids``), in a few aggregate queries."""
    config = quality_config()
    gold_right = (Q(pair__source=Pair.Source.GOLD) & (
        (Q(choice=Vote.Choice.LEFT) & Q(pair__expected_id=F("pair__left_id")))
        | (Q(choice=Vote.Choice.RIGHT) & Q(pair__expected_id=F("pair__right_id")))))
    votes = Vote.objects.all() if user_ids is None else Vote.objects.filter(user_id__in=user_ids)
    rows = votes.values("user_id").annotate(
        votes=Count("id"),
        gold=Count("id", filter=Q(pair__source=Pair.Source.GOLD)),
        gold_right=Count("id", filter=gold_right),
        sided=Count("id", filter=Q(choice__in=[Vote.Choice.LEFT, Vote.Choice.RIGHT])),
        left=Count("id", filter=Q(choice=Vote.Choice.LEFT)),
        timed=Count("id", filter=Q(time_to_vote_ms__isnull=False)),
        fast=Count("id", filter=Q(time_to_vote_ms__lt=config.fast_vote_ms)),
    ).order_by("user_id")
    repeats = _repeat_figures(user_ids)
    names = dict(get_user_model().objects.filter(pk__in=[r["user_id"] for r in rows]).values_list("pk", "username"))
    result = []
    for r in rows:
        n_repeat, consistent = repeats.get(r["user_id"], (0, 0))
        q = VoterQuality(
            user_id=r["user_id"], username=names.get(r["user_id"], ""), votes=r["votes"],
            gold_votes=r["gold"], gold_accuracy=_ratio(r["gold_right"], r["gold"]),
            repeat_votes=n_repeat, repeat_consistency=_ratio(consistent, n_repeat),
            sided_votes=r["sided"], left_share=_ratio(r["left"], r["sided"]),
            timed_votes=r["timed"], fast_share=_ratio(r["fast"], r["timed"]),
        )
        result.append(VoterQuality(**{**q.__dict__, "flags": _flags(q, config)}))
    return result


def users_flagged() -> set[int]:
    """Ids of the voters currently below a quality threshold."""
    return {q.user_id for q in voters_quality() if q.flagged}


@dataclass(frozen=True)
class PrototypeAgreement:
    key: int
    name: str
    members: int
    units: int  # response pairs voted on by at least two members
    alpha: float | None  # Krippendorff's α (ordinal: first better < tie < second better); None: not enough data


#: a vote's value on a response pair in canonical order (lower response id first); both-bad is no preference
_FIRST, _TIE, _SECOND = 1.0, 2.0, 3.0


def _value(choice: str, left_id: int, right_id: int) -> float | None:
    if choice == Vote.Choice.TIE:
        return _TIE
    if choice not in (Vote.Choice.LEFT, Vote.Choice.RIGHT):
        return None
    chosen = left_id if choice == Vote.Choice.LEFT else right_id
    return _FIRST if chosen == min(left_id, right_id) else _SECOND


def prototype_agreement() -> list[PrototypeAgreement]:
    """Krippendorff's α among each prototype's members, over the response pairs at least two of them voted on."""
    import krippendorff
    import numpy as np

    from webapp.profiles.models import RewardProfile
    from webapp.prototypes.models import Prototype

    members: dict[int, list[int]] = {}
    for user_id, key in RewardProfile.objects.exclude(prototype_id=None).values_list("user_id", "prototype_id"):
        members.setdefault(cast(int, key), []).append(user_id)  # None excluded above; the row type can't say so
    result = []
    for prototype in Prototype.objects.exclude(status=Prototype.Status.RETIRED).order_by("key"):
        users = members.get(prototype.key, [])
        ratings: dict[tuple[int, int], dict[int, float]] = {}
        rows = (Vote.objects.filter(user_id__in=users).exclude(pair__source=Pair.Source.GOLD).order_by("id")
                .values_list("user_id", "choice", "pair__left_id", "pair__right_id"))
        for user_id, choice, left_id, right_id in rows:
            value = _value(choice, left_id, right_id)
            if value is not None:  # a later vote on the same pair (a repeat) replaces the earlier one
                ratings.setdefault((min(left_id, right_id), max(left_id, right_id)), {})[user_id] = value
        shared = [unit for unit in ratings.values() if len(unit) >= 2]
        alpha = None
        if len(shared) >= 2 and len({v for unit in shared for v in unit.values()}) >= 2:
            raters = sorted({uid for unit in shared for uid in unit})
            data = np.full((len(raters), len(shared)), np.nan)
            for j, unit in enumerate(shared):
                for uid, value in unit.items():
                    data[raters.index(uid), j] = value
            alpha = float(krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal"))
            alpha = alpha if math.isfinite(alpha) else None
        result.append(PrototypeAgreement(key=prototype.key, name=str(prototype), members=len(users),
                                         units=len(shared), alpha=alpha))
    return result
