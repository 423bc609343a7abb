"""Reads for voting: which pair to show next, progress and per-user quality figures."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Count, Max, Q
from django.utils import timezone

from webapp.catalog.models import Response
from webapp.votes import services
from webapp.votes.models import Pair, Vote

#: a repeat pair re-asks a pair voted at least this many votes ago, so it is not remembered verbatim
REPEAT_MIN_GAP = 5


def pair_pending(*, user: User) -> Pair | None:
    """The newest pair shown to this user with no vote and not skipped (so a reload shows the same pair)."""
    return (
        Pair.objects.filter(user=user, vote__isnull=True, skipped_at__isnull=True)
        .select_related("prompt", "left", "right")
        .order_by("-shown_at", "-id")
        .first()
    )


def _seen_response_pairs(user: User) -> set[frozenset[int]]:
    return {frozenset(p) for p in Pair.objects.filter(user=user).values_list("left_id", "right_id")}


def _suggested(user: User, seen: set[frozenset[int]],
               allowed: set[int] | None = None) -> tuple[int, int] | None:
    """The first pair the worker's active selector queued for this user that they have not seen (and that lies in
    ``allowed`` responses, when given)."""
    from webapp.profiles.models import RewardProfile

    queued = RewardProfile.objects.filter(user=user).values_list("suggested_pairs", flat=True).first() or []
    for left_id, right_id in queued:
        if allowed is not None and not {left_id, right_id} <= allowed:
            continue
        if frozenset((left_id, right_id)) not in seen:
            return int(left_id), int(right_id)
    return None


def _shuffled_pair(user: User, a: Response, b: Response, rng: random.Random, **kwargs: object) -> Pair:
    left, right = (a, b) if rng.random() < 0.5 else (b, a)
    return services.pair_create(user=user, left=left, right=right, **kwargs)  # type: ignore[arg-type]


def _gold(user: User, rng: random.Random, prompt_ids: Collection[int] | None = None) -> Pair | None:
    """An on-topic answer against an answer to another prompt: the on-topic one is the known better answer."""
    # only answers with features: a just-imported one waits for its worker before anyone votes on it
    responses = Response.objects.exclude(axis_scores=None)
    responses = responses if prompt_ids is None else responses.filter(prompt_id__in=prompt_ids)
    ids = list(responses.values_list("pk", "prompt_id")[:5000])
    if len({prompt for _, prompt in ids}) < 2:
        return None
    on_id, on_prompt = rng.choice(ids)
    off = [pk for pk, prompt in ids if prompt != on_prompt]
    on, distractor = Response.objects.get(pk=on_id), Response.objects.get(pk=rng.choice(off))
    return _shuffled_pair(user, on, distractor, rng, source=Pair.Source.GOLD, expected=on)


def _repeat(user: User, rng: random.Random) -> Pair | None:
    """A pair the user voted on a while ago, shown again with the sides swapped."""
    recent = list(Vote.objects.filter(user=user).order_by("-id").values_list("pair_id", flat=True)[:200])
    already = set(Pair.objects.filter(user=user, repeat_of__isnull=False).values_list("repeat_of_id", flat=True))
    candidates = list(
        Pair.objects.filter(pk__in=recent[REPEAT_MIN_GAP:], source__in=[Pair.Source.ACTIVE, Pair.Source.RANDOM])
        .exclude(pk__in=already).values_list("pk", flat=True)
    )
    if not candidates:
        return None
    original = Pair.objects.select_related("left", "right").get(pk=rng.choice(candidates))
    return services.pair_create(user=user, left=original.right, right=original.left, source=Pair.Source.REPEAT,
                                repeat_of=original)


#: a random pair comes from one of this many randomly chosen prompts (their answers are read in one query)
RANDOM_PROMPTS = 50
#: how long a process reuses its list of the prompts that have two answers with features. Reading it groups every
#: answer of the catalog, on every random pair; a new prompt waits at most this long to be offered, and a list
#: that offers a user nothing new is re-read at once, so a stale list never ends anyone's voting.
VOTABLE_PROMPTS_SECONDS = 60.0
_votable: tuple[float, list[int]] | None = None


def _votable_prompt_ids(prompts: Collection[int] | None = None) -> list[int]:
    """Prompts (of ``prompts``, or all) with at least two answers that have features."""
    responses = Response.objects.exclude(axis_scores=None)
    if prompts is not None:
        responses = responses.filter(prompt_id__in=prompts)
    return list(responses.order_by().values("prompt_id").annotate(n=Count("id")).filter(n__gte=2)
                .values_list("prompt_id", flat=True))


def _votable_prompt_ids_cached(*, refresh: bool = False) -> tuple[list[int], bool]:
    """Every votable prompt id, from this process's copy when it is fresh; and whether it was just read."""
    global _votable
    now = time.monotonic()
    if refresh or _votable is None or now - _votable[0] > VOTABLE_PROMPTS_SECONDS:
        _votable = (now, _votable_prompt_ids())
        return list(_votable[1]), True
    return list(_votable[1]), False


def _random(user: User, rng: random.Random, seen: set[frozenset[int]],
            only: Collection[int] | None = None) -> Pair | None:
    if only is not None:  # a demo session's dozen prompts are all looked at; a bigger set is grouped once
        return _random_from(user, rng, seen, sorted(only) if len(only) <= RANDOM_PROMPTS else _votable_prompt_ids(only))
    prompt_ids, fresh = _votable_prompt_ids_cached()
    pair = _random_from(user, rng, seen, prompt_ids)
    if pair is None and not fresh:  # maybe prompts were added since the copy was made
        pair = _random_from(user, rng, seen, _votable_prompt_ids_cached(refresh=True)[0])
    return pair


def _random_from(user: User, rng: random.Random, seen: set[frozenset[int]],
                 prompt_ids: list[int]) -> Pair | None:
    rng.shuffle(prompt_ids)
    prompt_ids = prompt_ids[:RANDOM_PROMPTS]
    featured: dict[int, list[int]] = {prompt_id: [] for prompt_id in prompt_ids}
    for pk, prompt_id in (Response.objects.filter(prompt_id__in=prompt_ids).exclude(axis_scores=None)
                          .order_by("pk").values_list("pk", "prompt_id")):  # one query, not one per prompt
        featured[prompt_id].append(pk)
    for prompt_id in prompt_ids:
        ids = featured[prompt_id]
        candidates = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :] if frozenset((a, b)) not in seen]
        if candidates:
            a, b = rng.choice(candidates)
            found = Response.objects.select_related("prompt").in_bulk([a, b])  # the page shows the prompt too
            if len(found) == 2:
                return _shuffled_pair(user, found[a], found[b], rng, source=Pair.Source.RANDOM)
    return None


def pair_next(*, user: User, rng: random.Random | None = None,
              prompt_ids: Collection[int] | None = None) -> Pair | None:
    """The pair to show now: the pending one; else, by the configured rates, a gold pair, a repeat pair, a random
    pair, or the worker's active suggestion (random when it has none). Sides are shuffled. ``None`` when there
    is nothing left to ask. ``prompt_ids`` restricts new pairs to those prompts (a demo session's prompt set)."""
    pending = pair_pending(user=user)
    if pending is not None:
        return pending
    rng = rng or random.Random()
    draw = rng.random()
    gold, repeat = settings.TAILOR_GOLD_PAIR_RATE, settings.TAILOR_REPEAT_PAIR_RATE
    pair: Pair | None = None
    if draw < gold:
        pair = _gold(user, rng, prompt_ids)
    elif draw < gold + repeat:
        pair = _repeat(user, rng)
    if pair is not None:
        return pair
    seen = _seen_response_pairs(user)
    if draw >= gold + repeat + settings.TAILOR_RANDOM_PAIR_RATE:
        allowed = None if prompt_ids is None else set(
            Response.objects.filter(prompt_id__in=prompt_ids).values_list("pk", flat=True))
        suggestion = _suggested(user, seen, allowed)
        if suggestion is not None:
            responses = list(Response.objects.filter(pk__in=suggestion).select_related("prompt"))
            if len(responses) == 2:
                return _shuffled_pair(user, responses[0], responses[1], rng, source=Pair.Source.ACTIVE)
    return _random(user, rng, seen, prompt_ids)


@dataclass(frozen=True)
class FitVote:
    """What a refit needs of one vote: no model instances, no texts (the refit reads only these columns)."""

    id: int
    choice: str
    strength: int
    left_id: int
    right_id: int
    left_scores: list[float] | None
    right_scores: list[float] | None


def votes_for_fit(*, user_id: int, up_to_id: int) -> list[FitVote]:
    """Every stored preference-bearing vote of a user up to ``up_to_id``, oldest first (the refit's whole input).

    Gold and repeat pairs are quality checks, not preferences, so they are left out of the fit.
    """
    rows = (
        Vote.objects.filter(user_id=user_id, id__lte=up_to_id,
                            pair__source__in=[Pair.Source.ACTIVE, Pair.Source.RANDOM, Pair.Source.COMPARE])
        .order_by("id")
        .values_list("id", "choice", "strength", "pair__left_id", "pair__right_id", "pair__left__axis_scores",
                     "pair__right__axis_scores")
    )
    return [FitVote(*row) for row in rows]


@dataclass(frozen=True)
class Progress:
    votes_today: int
    votes_total: int
    last_vote_id: int | None
    last_vote_undoable_until: float | None  # epoch seconds


def progress_get(*, user: User) -> Progress:
    start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    # one query on every vote: a vote's created_at is set on insert, so the newest vote has the greatest id and time
    row = Vote.objects.filter(user=user).aggregate(
        total=Count("id"), today=Count("id", filter=Q(created_at__gte=start)), last_id=Max("id"),
        last_at=Max("created_at"))
    undo_until = None
    if row["last_at"] is not None:
        deadline = row["last_at"] + timedelta(seconds=services.UNDO_SECONDS)
        undo_until = deadline.timestamp() if deadline > timezone.now() else None
    return Progress(votes_today=row["today"], votes_total=row["total"], last_vote_id=row["last_id"],
                    last_vote_undoable_until=undo_until)


@dataclass(frozen=True)
class Quality:
    gold_votes: int
    gold_accuracy: float | None
    repeat_votes: int
    repeat_consistency: float | None
    left_share: float | None  # position bias: 0.5 is unbiased
    median_time_to_vote_ms: float | None


def _chosen(vote: Vote) -> int | None:
    return {"left": vote.pair.left_id, "right": vote.pair.right_id}.get(vote.choice)


def quality_get(*, user_id: int) -> Quality:
    """Gold-pair accuracy, repeat-pair consistency, position bias and time to vote for one user."""
    votes = list(Vote.objects.filter(user_id=user_id).select_related("pair", "pair__repeat_of__vote", "pair__repeat_of"))
    gold = [v for v in votes if v.pair.source == Pair.Source.GOLD]
    gold_right = sum(1 for v in gold if _chosen(v) == v.pair.expected_id)
    repeats = [v for v in votes if v.pair.repeat_of_id and hasattr(v.pair.repeat_of, "vote")]
    consistent = 0
    for v in repeats:
        original = v.pair.repeat_of.vote  # type: ignore[union-attr]
        if original.choice in ("tie", "both_bad"):
            consistent += int(v.choice == original.choice)
        else:
            consistent += int(_chosen(v) == _chosen(original))
    sided = [v for v in votes if v.choice in ("left", "right")]
    times = [v.time_to_vote_ms for v in votes if v.time_to_vote_ms is not None]
    return Quality(
        gold_votes=len(gold), gold_accuracy=gold_right / len(gold) if gold else None,
        repeat_votes=len(repeats), repeat_consistency=consistent / len(repeats) if repeats else None,
        left_share=sum(1 for v in sided if v.choice == "left") / len(sided) if sided else None,
        median_time_to_vote_ms=statistics.median(times) if times else None,
    )
