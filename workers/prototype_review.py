"""The worker side of the staff review of prototypes: staff decisions applied to every clustering run, splits,
per-prototype statistics (disagreement pairs, member agreement) and the pushes to open review pages.

What a periodic refit does with staff decisions (keys are stable, so decisions ride on them):
- names, staff-written summaries and approvals stay on their key;
- a retired key never gets members again: its cluster's users go to their next most likely live prototype, and
  its share of the mixture is set to 0 in the stored library state (the cold-start prior stops borrowing from it);
- a key merged into another (``merged_into``) sends its cluster's users, mass and moments to the target on every
  later refit, so a merge is never undone by the data; the target keeps its key even if the clustering matched
  only the merged-away cluster;
- a split's new keys are stored in the library state, so the next refit matches them by their members; when
  the data no longer support two clusters, the vanished key is retired by that refit and the refit is audited
  (nothing changes silently: every run that adds or retires a key writes a ``refit`` audit row);
- keys are never reused: a fresh cluster whose library id was ever used by any prototype gets a new key.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import torch

from webapp.prototypes.models import Prototype
from workers.features import FeaturesMissing, bank_ensure, response_features
from workers.pushes import progress_push, review_send

if TYPE_CHECKING:
    from webapp.prototypes.services import PrototypeRow

log = logging.getLogger(__name__)

DISAGREEMENT_PAIRS = 3
STATS_PAIRS = 3000
STATS_VOTES = 5000


def keys_never_reused(ids: list[int], previous_ids: list[int]) -> list[int]:
    """The library numbers a fresh cluster max(previous ids) + 1, which may be a key retired long ago; give such
    clusters keys no prototype ever had."""
    used = set(Prototype.objects.values_list("key", flat=True))
    fresh = max([*used, *ids, *previous_ids, -1]) + 1
    out = []
    for key in ids:
        if key not in previous_ids and key in used:
            key, fresh = fresh, fresh + 1
        out.append(key)
    return out


def keys_fresh(n: int, also: list[int] | None = None) -> list[int]:
    """``n`` keys no prototype ever had (nor any id in ``also``, e.g. the stored library state's)."""
    used = [*Prototype.objects.values_list("key", flat=True), *(also or []), -1]
    start = max(used) + 1
    return list(range(start, start + n))


def key_targets(ids: list[int]) -> list[int | None]:
    """Where each clustered component's users go after staff decisions: itself, the live key it was merged into
    (following chains), or None for a retired key that was not merged."""
    rows = {p.key: (p.status, p.merged_into) for p in Prototype.objects.only("key", "status", "merged_into")}
    targets: list[int | None] = []
    for key in ids:
        seen: set[int] = set()
        current: int | None = key
        while current is not None and current in rows and rows[current][0] == Prototype.Status.RETIRED:
            seen.add(current)
            nxt = rows[current][1]
            current = nxt if nxt is not None and nxt not in seen else None
        targets.append(current)
    return targets


def decisions_apply(
    *, ids: list[int], targets: list[int | None], responsibilities: torch.Tensor, mix: torch.Tensor,
    means: torch.Tensor, covariances: torch.Tensor,
) -> tuple[list[int], torch.Tensor, list[tuple[float, list[float], list[list[float]]]]]:
    """Fold components into their targets: (live keys, responsibilities (U, L) over them, per key
    (mass, mean, covariance) moment-matched over its components). ``L`` may be 0 when every key is retired."""
    keys = list(dict.fromkeys(t for t in targets if t is not None))
    folded = torch.zeros(responsibilities.shape[0], len(keys), dtype=torch.float64)  # (U, L)
    moments = []
    for j, key in enumerate(keys):
        members = [c for c, t in enumerate(targets) if t == key]
        folded[:, j] = responsibilities[:, members].sum(1)
        mass = mix[members].double()  # (m,)
        weights = mass / mass.sum().clamp_min(1e-12)
        mean = (weights[:, None] * means[members]).sum(0)  # (K,)
        spread = means[members] - mean  # (m, K)
        cov = sum((weights[i] * (covariances[c] + torch.outer(spread[i], spread[i]))
                   for i, c in enumerate(members)), torch.zeros_like(covariances[0]))
        moments.append((float(mass.sum()), mean.tolist(), cov.tolist()))
    return keys, folded, moments


def retired_mix_zeroed(state: dict[str, object], targets: list[int | None]) -> dict[str, object]:
    """The library state with the mixture weight of retired (not merged) components set to 0, renormalised."""
    mix = [0.0 if t is None else float(m) for m, t in zip(state["mix"], targets, strict=True)]  # type: ignore[call-overload]
    total = sum(mix)
    if total <= 0:
        return state
    return {**state, "mix": [m / total for m in mix]}


def prototype_stats_refresh() -> int:
    """Recompute every live prototype's disagreement pairs and member agreement from the stored pairs and votes
    (the features need the bank, so this runs in a worker). Returns how many prototypes were updated."""
    from webapp.catalog.models import Response
    from webapp.profiles.models import RewardProfile
    from webapp.votes.models import Pair, Vote

    bank_id, bank = bank_ensure()
    live = [p for p in Prototype.objects.exclude(status=Prototype.Status.RETIRED).filter(bank_id=bank_id)
            if len(p.mean) == bank.dim]
    if not live:
        return 0
    summaries_refresh(live, bank.names_)
    means = torch.tensor([p.mean for p in live], dtype=torch.float32)  # (k, K)
    pairs = list(Pair.objects.exclude(left__axis_scores=None).exclude(right__axis_scores=None).order_by("-id")
                 .values_list("left_id", "right_id", "left__axis_scores", "right__axis_scores")[:STATS_PAIRS])
    seen: set[frozenset[int]] = set()
    unique = []
    for row in pairs:
        if frozenset(row[:2]) not in seen:
            seen.add(frozenset(row[:2]))
            unique.append(row)
    disagreements: dict[int, list[dict[str, object]]] = {p.key: [] for p in live}
    try:
        if unique and len(live) > 1:
            left = response_features(bank, [r[2] for r in unique], [r[0] for r in unique])  # (P, K)
            right = response_features(bank, [r[3] for r in unique], [r[1] for r in unique])  # (P, K)
            margins = ((left - right) @ means.T).numpy()  # (P, k): > 0 means the prototype prefers left
            texts = dict(Response.objects.filter(pk__in={i for r in unique for i in r[:2]})
                         .values_list("pk", "text"))
            prompts = dict(Response.objects.filter(pk__in={r[0] for r in unique})
                           .values_list("pk", "prompt__text"))
            for c, prototype in enumerate(live):
                opposite = -margins[:, c : c + 1] * margins  # (P, k) > 0 where the two disagree
                strength = np.minimum(np.abs(margins[:, c : c + 1]), np.abs(margins))  # (P, k)
                score = np.where(opposite > 0, strength, 0.0)
                score[:, c] = 0.0
                best_other = score.argmax(1)  # (P,)
                best = score.max(1)  # (P,)
                for i in np.argsort(-best)[:DISAGREEMENT_PAIRS]:
                    if best[i] <= 0:
                        break
                    o = int(best_other[i])
                    disagreements[prototype.key].append({
                        "prompt": prompts.get(unique[i][0], "")[:300], "left": texts.get(unique[i][0], "")[:300],
                        "right": texts.get(unique[i][1], "")[:300], "other_key": live[o].key,
                        "self_margin": round(float(margins[i, c]), 3), "other_margin": round(float(margins[i, o]), 3),
                    })
    except FeaturesMissing as exc:
        log.info("prototype stats: disagreement pairs skipped: %s", exc)
    for c, prototype in enumerate(live):
        members = RewardProfile.objects.filter(prototype_id=prototype.key).values_list("user_id", flat=True)
        votes = list(Vote.objects.filter(user_id__in=members, choice__in=["left", "right"])
                     .exclude(pair__left__axis_scores=None).exclude(pair__right__axis_scores=None).order_by("-id")
                     .values_list("choice", "pair__left_id", "pair__right_id", "pair__left__axis_scores",
                                  "pair__right__axis_scores")[:STATS_VOTES])
        agreement = None
        try:
            if votes:
                diff = (response_features(bank, [v[3] for v in votes], [v[1] for v in votes])
                        - response_features(bank, [v[4] for v in votes], [v[2] for v in votes]))  # (N, K)
                predicted_left = (diff @ means[c]) > 0  # (N,)
                chose_left = torch.tensor([v[0] == "left" for v in votes])
                agreement = float((predicted_left == chose_left).double().mean())
        except FeaturesMissing as exc:
            log.info("prototype stats: agreement of #%d skipped: %s", prototype.key, exc)
        Prototype.objects.filter(pk=prototype.pk).update(
            disagreements=disagreements[prototype.key], agreement=agreement,
            agreement_votes=len(votes) if agreement is not None else 0)
    return len(live)


def summaries_refresh(prototypes: list[Prototype], names: list[str]) -> None:
    """Each prototype's grounded summary (POPI) from its current centroid and spread, so it follows refits, merges
    and splits; a summary staff wrote (``summary_edited``) is never touched."""
    import math

    from personalization.summaries import summary_from_weights

    for prototype in prototypes:
        if prototype.summary_edited or not prototype.mean:
            continue
        cov = prototype.covariance or []
        stds = [math.sqrt(max(float(cov[i][i]), 0.0)) if i < len(cov) else 0.0 for i in range(len(prototype.mean))]
        text = summary_from_weights(names, prototype.mean, stds).text.replace("You prefer", "Prefers")
        Prototype.objects.filter(pk=prototype.pk, summary_edited=False).update(summary=text)


def prototype_split_run(*, key: int, audit_id: int | None = None) -> list[int]:
    """Re-cluster one prototype's members into two with the library's clustering; store them under new keys.

    The newest fit's library state gets the two parts in place of the split component (members relabelled), so
    the next periodic refit matches the parts by their members. Returns the new keys ([] when refused).
    """
    from personalization.prototypes import PrototypeModel
    from webapp.profiles.models import RewardProfile
    from webapp.prototypes import services
    from webapp.prototypes.models import PrototypeFit

    progress_push(job="split", stage="loading members", done=1, total=3)
    source = Prototype.objects.filter(key=key).first()
    bank_id, bank = bank_ensure()
    if source is None or source.status == Prototype.Status.RETIRED:
        return _split_failed(audit_id, f"prototype #{key} is gone or retired")
    rows = [(uid, w) for uid, w in RewardProfile.objects.filter(prototype_id=key, bank_id=bank_id)
            .order_by("user_id").values_list("user_id", "weights") if len(w) == bank.dim]
    if len(rows) < services.MIN_SPLIT_MEMBERS:
        return _split_failed(audit_id, f"{len(rows)} members on the active bank; a split needs "
                                       f"{services.MIN_SPLIT_MEMBERS}")
    progress_push(job="split", stage="clustering members", done=2, total=3)
    weights = torch.tensor([w for _, w in rows], dtype=torch.float64)  # (U, K)
    model = PrototypeModel(k_range=(2,)).fit(weights, [uid for uid, _ in rows])
    labels = model.member_labels_.tolist()
    if len(set(labels)) < 2:
        return _split_failed(audit_id, "the members form one cluster; nothing to split")
    last = PrototypeFit.objects.order_by("-version").first()
    state = dict(last.state) if last is not None and last.state else {}
    new_keys = keys_fresh(2, also=[int(i) for i in state.get("ids", [])])
    resp = model.assign(weights)  # (U, 2)
    parts = []
    for c in range(2):
        parts.append(services.PrototypeRow(
            key=new_keys[c], mean=model.means_[c].tolist(), covariance=model.covariances_[c].tolist(),
            weight=float(source.weight) * float(model.mix_[c]), size=labels.count(c)))
    assignments = {uid: (new_keys[labels[i]], float(resp[i, labels[i]])) for i, (uid, _) in enumerate(rows)}
    state = _state_with_split(state, key=key, parts=parts, labels={str(uid): labels[i]
                                                                   for i, (uid, _) in enumerate(rows)})
    progress_push(job="split", stage="storing", done=3, total=3)
    try:
        services.prototype_split_store(key=key, parts=parts, assignments=assignments, state=state,
                                       audit_id=audit_id)
    except services.PrototypeActionRejected as exc:  # e.g. retired or merged away while the worker clustered
        return _split_failed(audit_id, str(exc))
    prototype_stats_refresh()  # the parts' summaries, disagreements and agreement
    review_send({"type": "prototypes.updated"})
    progress_push(job="split", stage="done", done=3, total=3)
    return new_keys


def _split_failed(audit_id: int | None, error: str) -> list[int]:
    from webapp.prototypes.services import prototype_action_failed

    if audit_id is not None:
        prototype_action_failed(audit_id=audit_id, error=error)
    progress_push(job="split", stage=f"failed: {error}", done=0, total=3)
    return []


def _state_with_split(state: dict[str, object], *, key: int, parts: list[PrototypeRow],
                      labels: dict[str, int]) -> dict[str, object]:
    """The library state with component ``key`` replaced by ``parts``; the split members relabelled."""
    if not state or "ids" not in state:
        return state
    ids: list[int] = list(state["ids"])  # type: ignore[call-overload]
    means, covs, mix = list(state["means"]), list(state["covariances"]), list(state["mix"])  # type: ignore[call-overload]
    old = ids.index(key) if key in ids else None
    share = float(mix[old]) if old is not None else 0.0
    keep = [c for c in range(len(ids)) if c != old]
    remap = {c: i for i, c in enumerate(keep)}
    new_ids = [ids[c] for c in keep] + [p.key for p in parts]
    new_means = [means[c] for c in keep] + [p.mean for p in parts]
    new_covs = [covs[c] for c in keep] + [p.covariance for p in parts]
    total_size = sum(p.size for p in parts) or 1
    new_mix = [mix[c] for c in keep] + [share * p.size / total_size for p in parts]
    member_labels = []
    for member, label in zip(state["member_keys"], state["member_labels"], strict=True):  # type: ignore[call-overload]
        if member in labels:
            member_labels.append(len(keep) + labels[member])
        elif label == old:
            member_labels.append(len(keep))  # a member not on the active bank: the first part
        else:
            member_labels.append(remap[label])
    return {**state, "k": len(new_ids), "ids": new_ids, "means": new_means, "covariances": new_covs,
            "mix": new_mix, "member_labels": member_labels}
