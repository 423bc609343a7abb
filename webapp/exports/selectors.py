"""Export rows: DPO triples, ties, both-bad and raw votes, per user, per prototype or for everyone.

Only preference votes (left or right better) become DPO triples ``prompt / chosen / rejected``. Ties and
both-bad votes go to their own exports with the two answers as ``response_a`` / ``response_b`` (left, right as
shown), so no trainer ever reads a tie as a preference. Gold and repeat pairs are quality checks, not
preferences: they appear in the raw votes only (``pair_source`` says which they were).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from webapp.profiles.models import RewardProfile
from webapp.votes.models import Pair, Vote

KINDS = ("dpo", "ties", "both_bad", "votes")
PREFERENCE_SOURCES = [Pair.Source.ACTIVE, Pair.Source.RANDOM, Pair.Source.COMPARE]
_CHOICES = {"dpo": [Vote.Choice.LEFT, Vote.Choice.RIGHT], "ties": [Vote.Choice.TIE],
            "both_bad": [Vote.Choice.BOTH_BAD]}


@dataclass(frozen=True)
class ExportScope:
    """Whose votes: one user, one prototype's members, or everyone (``None`` for both)."""

    user_id: int | None = None
    prototype_key: int | None = None
    exclude_flagged: bool = False


def _prototypes() -> dict[int, int | None]:
    return dict(RewardProfile.objects.values_list("user_id", "prototype_id"))


def _votes(scope: ExportScope, kind: str) -> Any:
    votes = Vote.objects.all()
    if scope.user_id is not None:
        votes = votes.filter(user_id=scope.user_id)
    if scope.prototype_key is not None:
        votes = votes.filter(user__reward_profile__prototype_id=scope.prototype_key)
    if scope.exclude_flagged:
        from webapp.quality.selectors import users_flagged

        votes = votes.exclude(user_id__in=users_flagged())
    if kind != "votes":
        votes = votes.filter(pair__source__in=PREFERENCE_SOURCES, choice__in=_CHOICES[kind])
    return votes.order_by("id")


def export_count(*, kind: str, scope: ExportScope) -> int:
    if kind not in KINDS:
        raise ValueError(f"unknown export {kind!r}; one of {KINDS}")
    return int(_votes(scope, kind).count())


def export_rows(*, kind: str, scope: ExportScope) -> Iterator[dict[str, Any]]:
    """The rows of one export, oldest vote first, read in chunks (no model instances, texts joined in SQL)."""
    if kind not in KINDS:
        raise ValueError(f"unknown export {kind!r}; one of {KINDS}")
    prototype_of = _prototypes()
    rows = _votes(scope, kind).values_list(
        "id", "user_id", "choice", "strength", "rationale", "time_to_vote_ms", "created_at", "pair_id",
        "pair__source", "pair__prompt_id", "pair__prompt__text", "pair__left_id", "pair__left__text",
        "pair__right_id", "pair__right__text",
    ).iterator(chunk_size=1000)
    for (vote_id, user_id, choice, strength, rationale, ms, created, pair_id, source, prompt_id, prompt,
         left_id, left, right_id, right) in rows:
        common = {"user_id": user_id, "prototype_id": prototype_of.get(user_id), "strength": strength,
                  "vote_id": vote_id}
        if kind == "dpo":
            chosen, rejected = (left, right) if choice == Vote.Choice.LEFT else (right, left)
            chosen_id, rejected_id = (left_id, right_id) if choice == Vote.Choice.LEFT else (right_id, left_id)
            yield {"prompt": prompt, "chosen": chosen, "rejected": rejected, **common, "chosen_id": chosen_id,
                   "rejected_id": rejected_id}
        elif kind in ("ties", "both_bad"):
            yield {"prompt": prompt, "response_a": left, "response_b": right, **common, "response_a_id": left_id,
                   "response_b_id": right_id}
        else:
            yield {"vote_id": vote_id, "user_id": user_id, "prototype_id": prototype_of.get(user_id),
                   "created_at": created.isoformat(), "pair_id": pair_id, "pair_source": source,
                   "prompt_id": prompt_id, "prompt": prompt, "left_id": left_id, "left": left,
                   "right_id": right_id, "right": right, "choice": choice, "strength": strength,
                   "rationale": rationale, "time_to_vote_ms": ms}
