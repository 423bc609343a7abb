"""Writes for prototypes: store one clustering run and every profile's assignment, atomically."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from webapp.profiles.models import RewardProfile
from webapp.prototypes.models import Prototype, PrototypeFit


@dataclass(frozen=True)
class PrototypeRow:
    key: int
    mean: list[float]
    covariance: list[list[float]]
    weight: float
    size: int


@transaction.atomic
def prototypes_store(
    *,
    bank_id: int,
    prototypes: list[PrototypeRow],
    assignments: dict[int, tuple[int, float]],
    k: int,
    criterion: str,
    criterion_scores: dict[str, float],
    state: dict[str, object],
) -> PrototypeFit:
    """Store a clustering run: upsert prototypes by stable key, retire keys that vanished, assign profiles.

    ``assignments`` maps user id → (prototype key, confidence in [0, 1]).
    """
    keys = [p.key for p in prototypes]
    for row in prototypes:
        Prototype.objects.update_or_create(
            key=row.key,
            defaults={"bank_id": bank_id, "mean": row.mean, "covariance": row.covariance, "weight": row.weight,
                      "size": row.size},
        )
    Prototype.objects.exclude(key__in=keys).exclude(status=Prototype.Status.RETIRED).update(
        status=Prototype.Status.RETIRED, size=0
    )
    for user_id, (key, confidence) in assignments.items():
        RewardProfile.objects.filter(user_id=user_id).update(prototype_id=key, prototype_confidence=confidence)
    last = PrototypeFit.objects.order_by("-version").values_list("version", flat=True).first() or 0
    return PrototypeFit.objects.create(version=last + 1, k=k, users=len(assignments), criterion=criterion,
                                       criterion_scores=criterion_scores, state=state)
