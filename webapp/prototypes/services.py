"""Writes for prototypes: store a clustering run with every profile's assignment, and the staff review actions
(each audited with who, when and the rows before and after)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from django.db import transaction

from webapp.live import group_send
from webapp.profiles.models import RewardProfile
from webapp.prototypes.models import Prototype, PrototypeAudit, PrototypeFit
from workers import contracts

log = logging.getLogger(__name__)


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
    projection: dict[str, object] | None = None,
    requested_by: int | None = None,
    audit_id: int | None = None,
) -> PrototypeFit:
    """Store a clustering run: upsert prototypes by stable key, retire keys that vanished, assign profiles.

    ``assignments`` maps user id → (prototype key, confidence in [0, 1]). ``prototypes`` are the keys after staff
    decisions (see ``workers.prototype_review``): a retired key is never passed, so it is never revived. The run is
    audited when staff asked for it (``audit_id`` of the request) or when a key appeared or vanished.
    """
    live_before = {p.key: prototype_snapshot(p) for p in Prototype.objects.exclude(status=Prototype.Status.RETIRED)}
    keys = [p.key for p in prototypes]
    if Prototype.objects.filter(key__in=keys, status=Prototype.Status.RETIRED).exists():
        raise ValueError("a clustering run cannot revive a retired prototype key")
    for row in prototypes:
        Prototype.objects.update_or_create(
            key=row.key,
            defaults={"bank_id": bank_id, "mean": row.mean, "covariance": row.covariance, "weight": row.weight,
                      "size": row.size},
        )
    Prototype.objects.exclude(key__in=keys).exclude(status=Prototype.Status.RETIRED).update(
        status=Prototype.Status.RETIRED, size=0
    )
    assigned = set(assignments)
    for user_id, (key, confidence) in assignments.items():
        RewardProfile.objects.filter(user_id=user_id).update(prototype_id=key, prototype_confidence=confidence)
    # users left out of this run (too few votes now, or another bank) keep no stale key of a retired prototype
    RewardProfile.objects.exclude(user_id__in=assigned).exclude(prototype_id__in=keys).exclude(
        prototype_id=None).update(prototype_id=None, prototype_confidence=None)
    last = PrototypeFit.objects.order_by("-version").values_list("version", flat=True).first() or 0
    fit = PrototypeFit.objects.create(version=last + 1, k=k, users=len(assignments), criterion=criterion,
                                      criterion_scores=criterion_scores, state=state,
                                      sizes={str(p.key): p.size for p in prototypes}, projection=projection or {})
    live_after = {p.key: prototype_snapshot(p) for p in Prototype.objects.exclude(status=Prototype.Status.RETIRED)}
    if audit_id is not None or set(live_before) != set(live_after):
        appeared, vanished = sorted(set(live_after) - set(live_before)), sorted(set(live_before) - set(live_after))
        _audit(actor_id=requested_by, action=PrototypeAudit.Action.REFIT, keys=sorted(set(live_before) | set(live_after)),
               before={str(k): v for k, v in live_before.items()},
               after={str(k): v for k, v in live_after.items()},
               note=f"fit v{fit.version}: k={k}; new {appeared or 'none'}; retired {vanished or 'none'}")
    if audit_id is not None:
        PrototypeAudit.objects.filter(pk=audit_id).update(after={"status": "done", "fit_version": fit.version})
    return fit


# --- staff review -----------------------------------------------------------------------------------------

STAFF_GROUP = contracts.STAFF_PROTOTYPES_GROUP
MAX_NAME = 80
#: a split re-clusters members into two; fewer than this cannot make two meaningful groups
MIN_SPLIT_MEMBERS = 4


class PrototypeActionRejected(ValueError):
    """A review action that cannot be applied; ``str(exc)`` is safe to show to staff. Nothing was changed."""


def prototype_snapshot(prototype: Prototype) -> dict[str, object]:
    """What the audit keeps of a prototype (no matrices: they are large and refits rewrite them)."""
    return {"key": prototype.key, "name": prototype.name, "status": prototype.status, "size": prototype.size,
            "merged_into": prototype.merged_into, "summary": prototype.summary,
            "summary_edited": prototype.summary_edited}


def _live(key: int) -> Prototype:
    prototype = Prototype.objects.select_for_update().filter(key=key).first()
    if prototype is None:
        raise PrototypeActionRejected(f"there is no prototype #{key}")
    if prototype.status == Prototype.Status.RETIRED:
        raise PrototypeActionRejected(f"prototype #{key} is retired")
    return prototype


def _audit(*, actor_id: int | None, action: str, keys: list[int], before: Mapping[str, object],
           after: Mapping[str, object], note: str = "") -> PrototypeAudit:
    return PrototypeAudit.objects.create(actor_id=actor_id, action=action, keys=keys, before=before, after=after,
                                         note=note[:200])


def review_push(event: dict[str, object]) -> None:
    """Tell open review pages (group ``staff.prototypes``) that something changed, once the transaction commits."""
    def send() -> None:
        try:
            group_send(STAFF_GROUP, event)
        except Exception:  # the action is committed; open pages catch up on their next update or reload
            log.warning("could not push %s to review pages", event.get("type"), exc_info=True)

    transaction.on_commit(send)


@transaction.atomic
def prototype_rename(*, actor_id: int, key: int, name: str) -> Prototype:
    name = " ".join(str(name).split())
    if not name:
        raise PrototypeActionRejected("a name cannot be empty")
    if len(name) > MAX_NAME:
        raise PrototypeActionRejected(f"a name is limited to {MAX_NAME} characters")
    prototype = _live(key)
    before = prototype_snapshot(prototype)
    prototype.name = name
    prototype.save(update_fields=["name", "updated_at"])
    _audit(actor_id=actor_id, action=PrototypeAudit.Action.RENAME, keys=[key], before=before,
           after=prototype_snapshot(prototype))
    review_push({"type": "prototypes.updated"})
    return prototype


@transaction.atomic
def prototype_approve(*, actor_id: int, key: int) -> Prototype:
    prototype = _live(key)
    if prototype.status == Prototype.Status.APPROVED:
        raise PrototypeActionRejected(f"{prototype} is already approved")
    before = prototype_snapshot(prototype)
    prototype.status = Prototype.Status.APPROVED
    prototype.save(update_fields=["status", "updated_at"])
    _audit(actor_id=actor_id, action=PrototypeAudit.Action.APPROVE, keys=[key], before=before,
           after=prototype_snapshot(prototype))
    review_push({"type": "prototypes.updated"})
    return prototype


def _moment_match(parts: list[tuple[float, list[float], list[list[float]]]]) -> tuple[list[float], list[list[float]]]:
    """Mean and covariance of a mixture of Gaussians ``(mass, mean, covariance)`` (one Gaussian for a merge)."""
    import numpy as np

    mass = np.array([max(m, 1e-9) for m, _, _ in parts])  # (n,)
    means = np.array([mu for _, mu, _ in parts], dtype=np.float64)  # (n, K)
    mean = (mass[:, None] * means).sum(0) / mass.sum()
    cov = np.zeros((means.shape[1], means.shape[1]))
    for m, mu, sigma in zip(mass, means, [s for _, _, s in parts], strict=True):
        sigma_arr = np.asarray(sigma, dtype=np.float64) if sigma else np.zeros_like(cov)
        cov += m * (sigma_arr + np.outer(mu - mean, mu - mean))
    return mean.tolist(), (cov / mass.sum()).tolist()


@transaction.atomic
def prototypes_merge(*, actor_id: int, source_key: int, target_key: int) -> Prototype:
    """Merge ``source`` into ``target``: its members move to target, target's centroid becomes the moment-matched
    union, source is retired with ``merged_into`` so later refits keep sending its cluster's users to target."""
    if source_key == target_key:
        raise PrototypeActionRejected("choose two different prototypes to merge")
    # lock both rows in key order, the order a clustering run locks them in: no deadlock between the two
    list(Prototype.objects.select_for_update().filter(key__in=[source_key, target_key]).order_by("key"))
    source, target = _live(source_key), _live(target_key)
    if source.bank_id != target.bank_id or len(source.mean) != len(target.mean):
        raise PrototypeActionRejected("these prototypes were fitted on different reward banks")
    before = {"source": prototype_snapshot(source), "target": prototype_snapshot(target)}
    if source.mean and target.mean:
        target.mean, target.covariance = _moment_match([
            (float(source.size or source.weight), source.mean, source.covariance),
            (float(target.size or target.weight), target.mean, target.covariance),
        ])
    moved = RewardProfile.objects.filter(prototype_id=source_key).update(prototype_id=target_key)
    target.size, target.weight = target.size + source.size, target.weight + source.weight
    target.save(update_fields=["mean", "covariance", "size", "weight", "updated_at"])
    Prototype.objects.filter(merged_into=source_key).update(merged_into=target_key)
    source.status, source.merged_into, source.size = Prototype.Status.RETIRED, target_key, 0
    source.save(update_fields=["status", "merged_into", "size", "updated_at"])
    _audit(actor_id=actor_id, action=PrototypeAudit.Action.MERGE, keys=[source_key, target_key], before=before,
           after={"source": prototype_snapshot(source), "target": prototype_snapshot(target), "moved": moved})
    _stats_enqueue()
    review_push({"type": "prototypes.updated"})
    return target


@transaction.atomic
def prototype_retire(*, actor_id: int, key: int) -> Prototype:
    """Retire a prototype: its members go to the nearest live prototype (by centroid), and later refits never
    give it members again (its cluster's users go to their next most likely prototype)."""
    import numpy as np

    # members move to other prototypes, whose rows change too: lock all in key order, as a clustering run does
    list(Prototype.objects.select_for_update().order_by("key").values_list("pk", flat=True))
    prototype = _live(key)
    before = prototype_snapshot(prototype)
    others = [p for p in Prototype.objects.exclude(key=key).exclude(status=Prototype.Status.RETIRED)
              .filter(bank_id=prototype.bank_id) if len(p.mean) == len(prototype.mean) and p.mean]
    members = list(RewardProfile.objects.filter(prototype_id=key).values_list("pk", "weights"))
    moved: dict[int, int] = {}
    if others:
        means = np.array([p.mean for p in others], dtype=np.float64)  # (k, K)
        for pk, weights in members:
            if len(weights) == means.shape[1]:
                nearest = others[int(np.argmin(((means - np.asarray(weights)) ** 2).sum(1)))]
                moved.setdefault(nearest.key, 0)
                RewardProfile.objects.filter(pk=pk).update(prototype_id=nearest.key, prototype_confidence=None)
                moved[nearest.key] += 1
    RewardProfile.objects.filter(prototype_id=key).update(prototype_id=None, prototype_confidence=None)
    for other in others:
        if moved.get(other.key):
            Prototype.objects.filter(pk=other.pk).update(size=other.size + moved[other.key])
    prototype.status, prototype.size = Prototype.Status.RETIRED, 0
    prototype.save(update_fields=["status", "size", "updated_at"])
    _audit(actor_id=actor_id, action=PrototypeAudit.Action.RETIRE, keys=[key], before=before,
           after={**prototype_snapshot(prototype), "members_moved_to": {str(k): n for k, n in moved.items()}})
    _stats_enqueue()
    review_push({"type": "prototypes.updated"})
    return prototype


@transaction.atomic
def prototype_split_request(*, actor_id: int, key: int) -> PrototypeAudit:
    """Ask a worker to re-cluster this prototype's members into two (the library's clustering runs there)."""
    from workers.enqueue import prototype_split_enqueue

    prototype = _live(key)
    members = RewardProfile.objects.filter(prototype_id=key).count()
    if members < MIN_SPLIT_MEMBERS:
        raise PrototypeActionRejected(f"{prototype} has {members} members; a split needs {MIN_SPLIT_MEMBERS}")
    audit = _audit(actor_id=actor_id, action=PrototypeAudit.Action.SPLIT, keys=[key],
                   before=prototype_snapshot(prototype), after={"status": "queued"})
    prototype_split_enqueue(key=key, audit_id=audit.pk)
    review_push({"type": "prototypes.progress", "job": "split", "stage": "queued", "done": 0, "total": 3})
    return audit


@transaction.atomic
def prototypes_refit_request(*, actor_id: int) -> PrototypeAudit:
    """Ask a worker to re-cluster everyone now (the periodic job, run early); progress is pushed to the page."""
    from workers.enqueue import prototypes_refit_enqueue

    before = {str(p.key): prototype_snapshot(p) for p in Prototype.objects.exclude(status=Prototype.Status.RETIRED)}
    audit = _audit(actor_id=actor_id, action=PrototypeAudit.Action.REFIT_REQUEST, keys=[int(k) for k in before],
                   before=before, after={"status": "queued"})
    prototypes_refit_enqueue(audit_id=audit.pk)
    review_push({"type": "prototypes.progress", "job": "refit", "stage": "queued", "done": 0, "total": 4})
    return audit



def _stats_enqueue() -> None:
    from workers.enqueue import prototype_stats_enqueue

    prototype_stats_enqueue()


@transaction.atomic
def prototype_split_store(
    *, key: int, parts: list[PrototypeRow], assignments: dict[int, tuple[int, float]], state: dict[str, object],
    audit_id: int | None = None, actor_id: int | None = None,
) -> list[Prototype]:
    """Store a split made by a worker: ``parts`` (new keys) replace ``key``, which is retired; its members move
    to the parts; a new fit version holds the library state with the parts, so the next refit matches them."""
    source = _live(key)
    used = set(Prototype.objects.values_list("key", flat=True))
    if len(parts) < 2 or any(p.key in used for p in parts):
        raise PrototypeActionRejected("a split needs two or more new, never used keys")
    before = prototype_snapshot(source)
    stem = source.name or f"prototype #{key}"
    created = [
        Prototype.objects.create(key=row.key, name=f"{stem} ({'ABCDEFGH'[i]})"[:MAX_NAME], bank_id=source.bank_id,
                                 mean=row.mean, covariance=row.covariance, weight=row.weight, size=row.size)
        for i, row in enumerate(parts)
    ]
    part_keys = {p.key for p in parts}
    for user_id, (part, confidence) in assignments.items():
        if part not in part_keys:
            raise PrototypeActionRejected("a split assigned a member outside its parts")
        RewardProfile.objects.filter(user_id=user_id, prototype_id=key).update(
            prototype_id=part, prototype_confidence=confidence)
    source.status, source.size = Prototype.Status.RETIRED, 0
    source.save(update_fields=["status", "size", "updated_at"])
    last = PrototypeFit.objects.order_by("-version").first()
    sizes = {str(p.key): p.size for p in Prototype.objects.exclude(status=Prototype.Status.RETIRED)}
    PrototypeFit.objects.create(
        version=(last.version if last else 0) + 1, k=int(state.get("k", len(parts))),  # type: ignore[call-overload]
        users=last.users if last else len(assignments), criterion="split", criterion_scores={}, state=state,
        sizes=sizes, projection=last.projection if last else {},
    )
    after = {"status": "done", "retired": prototype_snapshot(source),
             "parts": [prototype_snapshot(p) for p in created]}
    keys = [key, *sorted(part_keys)]
    if audit_id is None or not PrototypeAudit.objects.filter(pk=audit_id).update(after=after, keys=keys):
        _audit(actor_id=actor_id, action=PrototypeAudit.Action.SPLIT, keys=keys, before=before, after=after)
    review_push({"type": "prototypes.updated"})
    return created


def prototype_action_failed(*, audit_id: int, error: str) -> None:
    """Record on a queued action's audit row that the worker could not carry it out (nothing was changed)."""
    PrototypeAudit.objects.filter(pk=audit_id).update(after={"status": "failed", "error": error[:300]})
    review_push({"type": "prototypes.updated"})
