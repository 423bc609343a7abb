"""Reads for voting: which pair to show next."""

from __future__ import annotations

import random

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count

from webapp.catalog.models import Prompt, Response
from webapp.votes import services
from webapp.votes.models import Pair, Vote


def pair_pending(*, user: AbstractBaseUser) -> Pair | None:
    """The newest pair shown to this user that has no vote yet (so a reload shows the same pair)."""
    return (
        Pair.objects.filter(user=user, vote__isnull=True)
        .select_related("prompt", "left", "right")
        .order_by("-shown_at")
        .first()
    )


def _seen_response_pairs(user: AbstractBaseUser) -> set[frozenset[int]]:
    return {frozenset(p) for p in Pair.objects.filter(user=user).values_list("left_id", "right_id")}


def _suggested(user: AbstractBaseUser, seen: set[frozenset[int]]) -> tuple[int, int] | None:
    """The first pair the worker's active selector queued for this user that they have not seen."""
    from webapp.profiles.models import RewardProfile

    queued = RewardProfile.objects.filter(user=user).values_list("suggested_pairs", flat=True).first() or []
    for left_id, right_id in queued:
        if frozenset((left_id, right_id)) not in seen:
            return int(left_id), int(right_id)
    return None


def pair_next(*, user: AbstractBaseUser, rng: random.Random | None = None) -> Pair | None:
    """The pair to show now: the pending one, else the active selector's next suggestion (mixed with a rate of
    random pairs), else a random unseen pair. Sides are shuffled. ``None`` when nothing is left to ask."""
    pending = pair_pending(user=user)
    if pending is not None:
        return pending
    rng = rng or random.Random()
    seen = _seen_response_pairs(user)
    if rng.random() >= settings.TAILOR_RANDOM_PAIR_RATE:
        suggestion = _suggested(user, seen)
        if suggestion is not None:
            responses = list(Response.objects.filter(pk__in=suggestion))
            if len(responses) == 2:
                rng.shuffle(responses)
                return services.pair_create(user=user, left=responses[0], right=responses[1], source="active")
    prompt_ids = list(
        Prompt.objects.annotate(n=Count("responses")).filter(n__gte=2).values_list("pk", flat=True)
    )
    rng.shuffle(prompt_ids)
    for prompt_id in prompt_ids[:50]:
        ids = list(Response.objects.filter(prompt_id=prompt_id).values_list("pk", flat=True))
        candidates = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :] if frozenset((a, b)) not in seen]
        if candidates:
            a, b = rng.choice(candidates)
            left, right = (a, b) if rng.random() < 0.5 else (b, a)
            return services.pair_create(
                user=user, left=Response.objects.get(pk=left), right=Response.objects.get(pk=right), source="random"
            )
    return None


def votes_for_fit(*, user_id: int) -> list[Vote]:
    """Every stored vote of a user with both responses' features, oldest first (the refit's whole input)."""
    return list(
        Vote.objects.filter(user_id=user_id)
        .select_related("pair__left", "pair__right", "pair__prompt")
        .order_by("id")
    )
