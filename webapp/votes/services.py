"""Writes for pairs and votes. A vote is stored first; the profile is recomputed from stored votes by a worker."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from webapp.catalog.models import Response
from webapp.votes.models import Pair, Vote
from webapp.webhooks.services import webhook_emit
from workers.enqueue import profile_refit_enqueue


class VoteRejected(ValueError):
    """A vote that cannot be stored; ``str(exc)`` is safe to show the user."""


@dataclass(frozen=True)
class VoteResult:
    vote: Vote
    created: bool


UNDO_SECONDS = 10


def pair_create(
    *,
    user: User,
    left: Response,
    right: Response,
    source: str,
    expected: Response | None = None,
    repeat_of: Pair | None = None,
) -> Pair:
    """Store a pair as it will be shown (``left`` on the left).

    Both responses answer the same prompt, except in a gold pair, where the off-topic one is the known loser.
    """
    if left.pk == right.pk:
        raise ValueError("a pair needs two different responses")
    if source == Pair.Source.GOLD:
        if expected is None or expected.pk not in (left.pk, right.pk):
            raise ValueError("a gold pair needs its expected response on one side")
        prompt_id = expected.prompt_id
    elif left.prompt_id != right.prompt_id:
        raise ValueError("a pair needs two responses to the same prompt")
    else:
        prompt_id = left.prompt_id
    # one INSERT: atomic on its own, no transaction around it (two round trips fewer on every vote)
    pair = Pair.objects.create(user=user, prompt_id=prompt_id, left=left, right=right, source=source,
                               expected=expected, repeat_of=repeat_of)
    shown = expected if source == Pair.Source.GOLD and expected is not None else left
    if Response.prompt.is_cached(shown):  # the page shows it: no query to read it again
        pair.prompt = shown.prompt
    return pair


@transaction.atomic
def pair_skip(*, user: User, pair_id: int) -> bool:
    """Skip a pending pair (it is not shown again); False when it is not the user's or already voted."""
    updated = Pair.objects.filter(pk=pair_id, user=user, vote__isnull=True, skipped_at__isnull=True).update(
        skipped_at=timezone.now()
    )
    return updated == 1


@transaction.atomic
def vote_undo(*, user: User, vote_id: int) -> Pair:
    """Take back one's own newest vote within ``UNDO_SECONDS``; the pair becomes pending again.

    The profile is refitted from the remaining stored votes, so nothing else needs correcting.
    """
    vote = Vote.objects.select_for_update().filter(pk=vote_id, user=user).select_related("pair").first()
    if vote is None:
        raise VoteRejected("no such vote of yours")
    if Vote.objects.filter(user=user, pk__gt=vote.pk).exists():
        raise VoteRejected("only your latest vote can be undone")
    if (timezone.now() - vote.created_at).total_seconds() > UNDO_SECONDS:
        raise VoteRejected(f"a vote can only be undone within {UNDO_SECONDS} seconds")
    pair = vote.pair
    vote.delete()
    # Shown again now, so it is the pending pair the next page shows.
    Pair.objects.filter(pk=pair.pk).update(shown_at=timezone.now())
    profile_refit_enqueue(user_id=user.pk)
    return pair


@transaction.atomic
def user_data_delete(*, user: User) -> int:
    """Remove a user's votes, pairs and profile (prototypes stop counting them at their next refit).

    Returns how many votes were deleted. The account itself stays, so the user remains signed in.
    """
    from webapp.profiles.models import RewardProfile

    deleted = Vote.objects.filter(user=user).count()
    Vote.objects.filter(user=user).delete()
    Pair.objects.filter(user=user).delete()
    RewardProfile.objects.filter(user=user).delete()
    return deleted


def vote_record(
    *,
    user: User,
    pair_id: int,
    idempotency_key: uuid.UUID,
    choice: str,
    strength: int = Vote.Strength.CLEAR,
    rationale: str = "",
    time_to_vote_ms: int | None = None,
) -> VoteResult:
    """Store one vote exactly once and ask for a refit of the user's profile.

    A resubmission with the same idempotency key returns the stored vote (``created=False``) whatever its body;
    a second vote on an already-voted pair is rejected. Concurrent submissions race on the unique constraints and
    the loser reads the winner's row.
    """
    if choice not in Vote.Choice.values:
        raise VoteRejected(f"unknown choice {choice!r}")
    if strength not in Vote.Strength.values:
        raise VoteRejected(f"strength must be one of {sorted(Vote.Strength.values)}")
    if len(rationale) > 280:
        raise VoteRejected("rationale is limited to 280 characters")
    if time_to_vote_ms is not None and not 0 <= time_to_vote_ms <= 86_400_000:
        raise VoteRejected("time_to_vote_ms must be between 0 and one day")
    # No look-up of the key up front (a query on every vote for the rare replay): a replay finds its vote on the
    # locked pair, or loses the insert race on the key's unique constraint below.
    try:
        with transaction.atomic():
            # the pair locked, and its vote if it has one, in one query (only the pair's row is locked)
            pair = (Pair.objects.select_for_update(of=("self",)).select_related("vote")
                    .filter(pk=pair_id, user=user).first())
            if pair is None:
                existing = Vote.objects.filter(idempotency_key=idempotency_key).first()
                if existing is not None:  # the key is known: say whose it is
                    return _replayed(existing, user=user, pair_id=pair_id)
                raise VoteRejected("this pair was not shown to you")
            if pair.skipped_at is not None:
                raise VoteRejected("this pair was skipped")
            winner = pair.vote if hasattr(pair, "vote") else None
            if winner is not None:
                # A concurrent request with the same key got the pair lock first: this one is its replay.
                if winner.idempotency_key == idempotency_key:
                    return _replayed(winner, user=user, pair_id=pair_id)
                raise VoteRejected("you already voted on this pair")
            vote = Vote.objects.create(
                idempotency_key=idempotency_key, user=user, pair=pair, choice=choice, strength=strength,
                rationale=rationale.strip(), time_to_vote_ms=time_to_vote_ms,
            )
            profile_refit_enqueue(user_id=user.pk)
            webhook_emit(event="vote.created", data={
                "vote_id": vote.pk, "user_id": user.pk, "pair_id": pair.pk, "prompt_id": pair.prompt_id,
                "left_id": pair.left_id, "right_id": pair.right_id, "pair_source": pair.source,
                "choice": vote.choice, "strength": vote.strength, "created_at": vote.created_at})
    except IntegrityError:
        # Lost a race with a concurrent submission: the same key replays, another key on this pair is rejected.
        existing = Vote.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return _replayed(existing, user=user, pair_id=pair_id)
        raise VoteRejected("you already voted on this pair") from None
    return VoteResult(vote=vote, created=True)


def _replayed(vote: Vote, *, user: User, pair_id: int) -> VoteResult:
    if vote.user_id != user.pk or vote.pair_id != pair_id:
        raise VoteRejected("this idempotency key belongs to another vote")
    return VoteResult(vote=vote, created=False)
