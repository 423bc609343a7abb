"""Reads for prototypes: the live map of users, and what a reviewer sees about each prototype."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict

from django.contrib.auth import get_user_model

from webapp.profiles.models import BaseRewardBank, RewardProfile
from webapp.prototypes.models import Prototype, PrototypeAudit, PrototypeFit
from webapp.prototypes.projection import Projection, projection_apply, projection_fit

#: the global map shows at most this many users (those with the most votes)
MAP_MAX_POINTS = 2000


class MapPoint(TypedDict):
    user_id: int
    label: str  # username
    x: float
    y: float
    prototype_key: int | None
    votes: int
    summary: str  # the user's summary when asked for (staff), else ""


class MapPrototype(TypedDict):
    key: int
    name: str
    x: float
    y: float
    size: int


class PrototypeMap(TypedDict):
    version: int
    points: list[MapPoint]
    prototypes: list[MapPrototype]


def _active_bank() -> BaseRewardBank | None:
    return BaseRewardBank.objects.filter(is_active=True).only("pk", "names").first()


def map_projection(*, bank_id: int | None, dim: int, weights: list[list[float]]) -> Projection | None:
    """The stored basis of the newest fit on this bank, else a PCA over ``weights`` (None when there are none)."""
    stored = (PrototypeFit.objects.exclude(projection={}).order_by("-version")
              .values_list("projection", flat=True).first())
    if stored and stored.get("bank_id") == bank_id and len(stored.get("center", [])) == dim:
        return Projection(bank_id=stored["bank_id"], center=stored["center"], basis=stored["basis"],
                          scale=float(stored["scale"]))
    if not weights:
        return None
    return projection_fit(weights, bank_id=bank_id)


def prototype_map(*, user_ids: Collection[int] | None = None, with_summaries: bool = False,
                  versioned: bool = True, labels: Mapping[int, str] | None = None) -> PrototypeMap:
    """Users on the active bank projected to 2-D with their prototype and vote count, and the live prototypes.

    ``user_ids`` limits the points (e.g. a demo session's participants; prototypes are always all live ones).
    ``version`` grows whenever an included point or a prototype changes: it adds the included profiles'
    versions (each fit bumps one), the newest clustering's version and the number of audited staff actions.
    (Deleting an included user lowers it; a map consumer that only watches for increases misses that one.)
    ``versioned=False``: a caller with its own version (a demo room) saves the two queries; ``version`` is 0.
    ``labels``: the points' labels by user id (a demo room's display names) instead of usernames.
    """
    bank = _active_bank()
    profiles = RewardProfile.objects.filter(bank=bank) if bank is not None else RewardProfile.objects.none()
    if user_ids is not None:
        profiles = profiles.filter(user_id__in=list(user_ids))
    columns = ["user_id", "weights", "prototype_id", "vote_count", "version"]
    columns += ["summary"] if with_summaries else []
    columns += ["user__username"] if labels is None else []  # a join only when the labels are usernames
    rows = list(profiles.order_by("-vote_count", "user_id").values(*columns)[:MAP_MAX_POINTS])
    dim = len(bank.names) if bank is not None else 0
    rows = [r for r in rows if len(r["weights"]) == dim and dim > 0]
    live = list(Prototype.objects.exclude(status=Prototype.Status.RETIRED).filter(bank=bank)
                .values_list("key", "name", "mean", "size"))
    live = [p for p in live if len(p[2]) == dim and dim > 0]
    weights = [r["weights"] for r in rows]
    projection = map_projection(bank_id=bank.pk if bank else None, dim=dim, weights=weights)
    xy = projection_apply(projection, weights) if projection else []
    centres = projection_apply(projection, [p[2] for p in live]) if projection else []
    live_keys = {p[0] for p in live}
    points = [
        MapPoint(user_id=r["user_id"], label=r["user__username"] if labels is None else labels.get(r["user_id"], ""),
                 x=xy[i][0], y=xy[i][1], prototype_key=r["prototype_id"] if r["prototype_id"] in live_keys else None,
                 votes=int(r["vote_count"]), summary=r.get("summary", ""))
        for i, r in enumerate(rows)
    ]
    prototypes = [
        MapPrototype(key=p[0], name=p[1] or f"prototype #{p[0]}", x=centres[i][0], y=centres[i][1], size=int(p[3]))
        for i, p in enumerate(live)
    ]
    if not versioned:
        return PrototypeMap(version=0, points=points, prototypes=prototypes)
    fit_version = PrototypeFit.objects.order_by("-version").values_list("version", flat=True).first() or 0
    version = sum(int(r["version"]) for r in rows) + fit_version + PrototypeAudit.objects.count()
    return PrototypeMap(version=version, points=points, prototypes=prototypes)



# --- the staff review page --------------------------------------------------------------------------------

TREND_FITS = 30
REPRESENTATIVES = 5


@dataclass(frozen=True)
class AxisSpread:
    name: str
    label: str
    mean: float
    spread: float


@dataclass(frozen=True)
class Member:
    user_id: int
    username: str
    votes: int
    distance: float
    summary: str


@dataclass(frozen=True)
class TrendPoint:
    version: int
    created_at: datetime
    size: int


@dataclass(frozen=True)
class PrototypeDetail:
    prototype: Prototype
    axes: list[AxisSpread]
    representatives: list[Member]
    disagreements: list[dict[str, object]]
    trend: list[TrendPoint]
    audit: list[PrototypeAudit]
    others: dict[int, str]  # key → name of every prototype named in the disagreements


def prototypes_for_review() -> list[Prototype]:
    """Live prototypes first (approved, then active, by size), then the retired ones."""
    rank: dict[str, int] = {Prototype.Status.APPROVED: 0, Prototype.Status.ACTIVE: 1, Prototype.Status.RETIRED: 2}
    return sorted(Prototype.objects.all(), key=lambda p: (rank.get(p.status, 3), -p.size, p.key))


def audit_recent(*, limit: int = 20, key: int | None = None) -> list[PrototypeAudit]:
    """The newest audit rows, optionally only those naming ``key`` (filtered here: JSON ``contains`` is not
    available on the embedded SQLite)."""
    rows = PrototypeAudit.objects.select_related("actor")
    if key is None:
        return list(rows[:limit])
    return [row for row in rows[: limit * 20] if key in (row.keys or [])][:limit]


def prototype_detail(*, key: int) -> PrototypeDetail | None:
    import numpy as np

    prototype = Prototype.objects.select_related("bank").filter(key=key).first()
    if prototype is None:
        return None
    names = list(prototype.bank.names) if prototype.bank is not None else []
    mean = [float(v) for v in prototype.mean]
    cov = prototype.covariance or []
    axes = [
        AxisSpread(name=name, label=name.replace("_", " "), mean=mean[i],
                   spread=math.sqrt(max(float(cov[i][i]), 0.0)) if i < len(cov) else 0.0)
        for i, name in enumerate(names) if i < len(mean)
    ]
    members = [r for r in RewardProfile.objects.filter(prototype_id=key)
               .values_list("user_id", "weights", "vote_count", "summary") if len(r[1]) == len(mean) and mean]
    representatives: list[Member] = []
    if members:
        distances = np.sqrt(((np.asarray([r[1] for r in members]) - np.asarray(mean)) ** 2).sum(1))  # (U,)
        closest = [members[i] for i in np.argsort(distances)[:REPRESENTATIVES]]
        usernames = dict(get_user_model().objects.filter(pk__in=[r[0] for r in closest])
                         .values_list("pk", "username"))
        by_user = {r[0]: float(d) for r, d in zip(members, distances, strict=True)}
        representatives = [Member(user_id=r[0], username=usernames.get(r[0], f"user {r[0]}"), votes=int(r[2]),
                                  distance=round(by_user[r[0]], 3), summary=r[3]) for r in closest]
    fits = list(PrototypeFit.objects.order_by("-version").values_list("version", "created_at", "sizes")[:TREND_FITS])
    trend = [TrendPoint(version=v, created_at=at, size=int((sizes or {}).get(str(key), 0)))
             for v, at, sizes in reversed(fits)]
    other_keys = {int(d["other_key"]) for d in prototype.disagreements if "other_key" in d}
    others = {p.key: str(p) for p in Prototype.objects.filter(key__in=other_keys)}
    return PrototypeDetail(prototype=prototype, axes=axes, representatives=representatives,
                           disagreements=[{**d, "other_name": others.get(int(d.get("other_key", -1)), "another")}
                                          for d in prototype.disagreements], trend=trend,
                           audit=audit_recent(key=key), others=others)


def review_job_latest() -> dict[str, object]:
    """The newest re-run or split staff asked for, as the progress line shows it (so a page opened or reloaded
    after the pushed progress went by still tells whether the job is queued, done or failed)."""
    row = (PrototypeAudit.objects.filter(action__in=[PrototypeAudit.Action.REFIT_REQUEST, PrototypeAudit.Action.SPLIT])
           .values("action", "after").first())
    if row is None:
        return {"job": "", "stage": "", "done": 0, "total": 0}
    after = row["after"] or {}
    status = str(after.get("status", ""))
    stage = f"failed: {after.get('error', '')}" if status == "failed" else status
    job = "refit" if row["action"] == PrototypeAudit.Action.REFIT_REQUEST else "split"
    return {"job": job, "stage": stage, "done": 1 if status in ("done", "failed") else 0, "total": 1}
