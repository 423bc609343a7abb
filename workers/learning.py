"""What a refit adds beyond the weights: active next pairs (PReF), the grounded summary (POPI), and the periodic
prototype refit (P-GenRM) with stable ids."""

from __future__ import annotations

import logging
import random
from typing import TypedDict, cast

import torch
from django.db import transaction

from personalization.active import pair_utilities
from personalization.bank import BaseRewardBank
from personalization.prototypes import PrototypeModel
from personalization.summaries import ExamplePair, summary_from_weights, summary_needs_refresh
from webapp.catalog.models import Response
from webapp.profiles.models import RewardProfile
from webapp.prototypes import services as prototype_services
from webapp.prototypes.models import Prototype, PrototypeFit
from webapp.votes.models import Pair, Vote
from webapp.webhooks.services import webhook_emit
from workers.config import worker_config
from workers.features import OUTCOME, STRENGTH_WEIGHT, bank_ensure, embedding_from_bytes
from workers.prototype_review import (
    decisions_apply,
    key_targets,
    keys_never_reused,
    prototype_stats_refresh,
    retired_mix_zeroed,
)
from workers.pushes import profile_push, progress_push, review_send

log = logging.getLogger(__name__)

CANDIDATE_PAIRS = 400
SUGGESTIONS = 8
MIN_PROTOTYPE_USERS = 4
MIN_PROTOTYPE_VOTES = 3


_POOL_CACHE: dict[tuple[int, int, int], tuple[dict[int, torch.Tensor], dict[int, int]]] = {}


def _pool(bank: BaseRewardBank) -> tuple[dict[int, torch.Tensor], dict[int, int]]:
    """φ and prompt id of every pool response with features, cached per process until the bank or the pool
    changes (checked with one aggregate query, so a warm refit does not reload the pool)."""
    from django.db.models import Count, Max


    pool = Response.objects.exclude(axis_scores=None).exclude(embedding=None)
    stats = pool.aggregate(n=Count("id"), newest=Max("id"))
    key = (bank.version, stats["n"], stats["newest"] or 0)
    if key not in _POOL_CACHE:
        responses = list(pool.only("id", "prompt_id", "axis_scores", "embedding").order_by("id")[:5000])
        features: dict[int, torch.Tensor] = {}
        if responses:
            scores = torch.tensor([r.axis_scores for r in responses], dtype=torch.float32)  # (N, A)
            if bank.n_latent:
                # the pool excludes responses without an embedding; the field's type can't say so
                embeddings = torch.stack([embedding_from_bytes(cast(bytes, r.embedding)) for r in responses])  # (N, d)
                matrix = bank.features(scores, embeddings)
            else:
                matrix = bank.features(scores)
            features = {r.pk: matrix[i] for i, r in enumerate(responses)}
        _POOL_CACHE.clear()
        _POOL_CACHE[key] = (features, {r.pk: r.prompt_id for r in responses})
    return _POOL_CACHE[key]


def pairs_suggest(
    *, user_id: int, bank: BaseRewardBank, weights: torch.Tensor, covariance: torch.Tensor, tie_strength: float,
    seed: int, prompt_ids: set[int] | None = None,
) -> list[list[int]]:
    """The most informative unseen same-prompt pairs under the user's posterior (PReF active selection), among
    ``prompt_ids`` when given (a demo session's prompts)."""
    features, prompt_of = _pool(bank)
    if len(features) < 2:
        return []
    seen = {frozenset(p) for p in Pair.objects.filter(user_id=user_id).values_list("left_id", "right_id")}
    by_prompt: dict[int, list[int]] = {}
    for response_id, prompt_id in prompt_of.items():
        if prompt_ids is None or prompt_id in prompt_ids:
            by_prompt.setdefault(prompt_id, []).append(response_id)
    rng = random.Random(seed)
    candidates: list[tuple[int, int]] = []
    prompts = list(by_prompt.values())
    rng.shuffle(prompts)
    for ids in prompts:
        for _ in range(3):
            if len(ids) >= 2:
                a, b = rng.sample(ids, 2)
                if frozenset((a, b)) not in seen:
                    candidates.append((a, b))
        if len(candidates) >= CANDIDATE_PAIRS:
            break
    if not candidates:
        return []
    diffs = torch.stack([features[a] - features[b] for a, b in candidates]).double()  # (M, K)
    utilities = pair_utilities(diffs, weights=weights, covariance=covariance, strategy="information",
                               tie_strength=tie_strength, generator=torch.Generator().manual_seed(seed))
    order = torch.argsort(utilities, descending=True)[:SUGGESTIONS].tolist()
    return [list(candidates[i]) for i in order]


def summary_refresh(
    *, profile: RewardProfile | None, names: list[str], weights: list[float], stddevs: list[float],
    example_vote: Vote | None,
) -> str | None:
    """The new grounded summary, or None to keep the stored one (edited by the user, or not moved enough)."""
    if profile is not None and profile.summary_edited:
        return None
    # compared with the weights the stored summary was written from (not the stored weights: the refit has
    # already replaced those when its follower runs)
    written_from = profile.summary_weights if profile is not None else []
    old = written_from if profile is not None and profile.summary and len(written_from) == len(weights) else None
    if old is not None and not summary_needs_refresh(old, weights, names=names):
        return None
    example = None
    if example_vote is not None and example_vote.choice in ("left", "right"):
        chosen, rejected = example_vote.pair.left, example_vote.pair.right
        if example_vote.choice == "right":
            chosen, rejected = rejected, chosen
        example = ExamplePair(prompt=example_vote.pair.prompt.text, chosen=chosen.text, rejected=rejected.text)
    return summary_from_weights(names, weights, stddevs, example=example).text


def _prototypes_store_with_decisions(
    *, model: PrototypeModel, previous: PrototypeModel | None, bank_id: int, user_ids: list[int],
    responsibilities: torch.Tensor, projection: dict[str, object], requested_by: int | None, audit_id: int | None,
) -> tuple[PrototypeFit, list[int], list[prototype_services.PrototypeRow]]:
    """Apply staff decisions to a fitted clustering and store it (inside the caller's locking transaction)."""

    model.ids_ = keys_never_reused(model.ids_, previous.ids_ if previous is not None else [])
    targets = key_targets(model.ids_)  # staff decisions: retired → None, merged → the target's key
    keys, folded, moments = decisions_apply(
        ids=model.ids_, targets=targets, responsibilities=responsibilities, mix=model.mix_,
        means=model.means_, covariances=model.covariances_)  # folded: (U, L)
    assignments: dict[int, tuple[int, float]] = {}
    prototypes = []
    if keys:
        best = folded.argmax(1)  # (U,)
        confidence = folded.gather(1, best[:, None])[:, 0] / folded.sum(1).clamp_min(1e-12)  # (U,)
        assignments = {uid: (keys[int(best[i])], float(confidence[i])) for i, uid in enumerate(user_ids)}
        prototypes = [
            prototype_services.PrototypeRow(key=key, mean=mean, covariance=cov, weight=mass,
                                            size=int((best == j).sum()))
            for j, (key, (mass, mean, cov)) in enumerate(zip(keys, moments, strict=True))
        ]
    fit = prototype_services.prototypes_store(
        bank_id=bank_id, prototypes=prototypes, assignments=assignments, k=model.k_,
        criterion=model.criterion, criterion_scores={str(k): float(v) for k, v in model.criterion_scores_.items()},
        state=retired_mix_zeroed(model.to_state(), targets), projection=projection,
        requested_by=requested_by, audit_id=audit_id,
    )
    return fit, keys, prototypes


def prototypes_refit_run(*, requested_by: int | None = None, audit_id: int | None = None) -> int:
    """Cluster the users' weights on the active bank; keep prototype ids stable by matching the previous run, and
    apply staff decisions (retired and merged keys, see ``workers.prototype_review``). Returns the number of live
    prototypes stored (0 when there are too few users). Progress is pushed to open review pages."""
    from webapp.prototypes.projection import Projection, projection_fit

    progress_push(job="refit", stage="loading profiles", done=1, total=4)
    bank_id, bank = bank_ensure()
    rows = list(RewardProfile.objects.filter(bank_id=bank_id, vote_count__gte=MIN_PROTOTYPE_VOTES)
                .values_list("user_id", "weights"))
    rows = [(uid, w) for uid, w in rows if len(w) == bank.dim]
    if len(rows) < MIN_PROTOTYPE_USERS:
        log.info("prototypes: %d users with enough votes, need %d", len(rows), MIN_PROTOTYPE_USERS)
        reason = f"{len(rows)} users with {MIN_PROTOTYPE_VOTES}+ votes; clustering needs {MIN_PROTOTYPE_USERS}"
        if audit_id is not None:
            prototype_services.prototype_action_failed(audit_id=audit_id, error=reason)
        progress_push(job="refit", stage=f"skipped: {reason}", done=0, total=4)
        return 0
    user_ids = [uid for uid, _ in rows]
    weights = torch.tensor([w for _, w in rows], dtype=torch.float64)  # (U, K)
    last = PrototypeFit.objects.order_by("-version").first()
    previous = PrototypeModel.from_state(last.state) if last is not None and last.state else None
    k_max = max(1, min(6, len(rows) // 2))
    progress_push(job="refit", stage="clustering", done=2, total=4)
    model = PrototypeModel(k_range=tuple(range(1, k_max + 1))).fit(weights, user_ids, previous=previous)
    responsibilities = model.assign(weights)  # (U, k)
    previous_projection = last.projection if last is not None and last.projection else None
    projection = projection_fit(weights.tolist(), bank_id=bank_id,
                                previous=cast(Projection, previous_projection) if previous_projection else None)
    progress_push(job="refit", stage="storing", done=3, total=4)
    with transaction.atomic():
        # staff actions lock the prototype they change: they wait for this store, and this run reads their
        # decisions only once they are committed (never a retired key revived by a run that started before)
        list(Prototype.objects.select_for_update().order_by("key").values_list("pk", flat=True))
        fit, keys, prototypes = _prototypes_store_with_decisions(
            model=model, previous=previous, bank_id=bank_id, user_ids=user_ids, responsibilities=responsibilities,
            projection=dict(projection), requested_by=requested_by, audit_id=audit_id)
    webhook_emit(event="prototype.changed", data={
        "fit_version": fit.version, "k": model.k_, "users": len(user_ids), "bank_version": bank.version,
        "prototypes": [{"key": row.key, "size": row.size, "weight": row.weight} for row in prototypes]})
    progress_push(job="refit", stage="statistics", done=4, total=4)
    prototype_stats_refresh()  # also each prototype's own summary (POPI), unless staff wrote one
    for uid in user_ids:
        version = RewardProfile.objects.filter(user_id=uid).values_list("version", flat=True).first()
        if version is not None:
            profile_push(user_id=uid, version=version, source="prototypes")
    review_send({"type": "prototypes.updated"})  # the staff map, list and audit, once
    progress_push(job="refit", stage="done", done=4, total=4)
    log.info("prototypes v%d: k=%d over %d users, %d live", fit.version, model.k_, len(user_ids), len(keys))
    return len(keys)


MIN_BANK_USERS = 8
META_STEPS = 200
MIN_BANK_VOTES = 5


class _BankVotes(TypedDict):
    """The votes a bank refit learns from, one row each: what both bank refits take."""

    bank: BaseRewardBank
    users: list[int]
    axes_first: torch.Tensor  # (N, A)
    axes_second: torch.Tensor  # (N, A)
    emb_first: torch.Tensor  # (N, d)
    emb_second: torch.Tensor  # (N, d)
    outcomes: torch.Tensor  # (N,)
    sample_weight: torch.Tensor  # (N,)


def bank_refit_run() -> int | None:
    """Refit the latent base rewards from everyone's preference votes (PReF): by default a low-rank factorization
    (LoRe), or the rewards of a mixture of Bradley–Terry models over whole users (``TAILOR_BANK_BASES=mixture``).

    Stores the result as the next bank version and makes it active; every profile is then behind its bank, so
    the reconciler refits each one onto the new bank from its stored votes. Returns the new version, or None
    when there are too few voters to learn shared bases.
    """
    from django.db.models import Count

    from personalization.factorization import FactorizationConfig, bank_refit
    from personalization.meta import MetaPrior
    from personalization.mixture import BradleyTerryMixture, bank_refit_mixture
    from webapp.profiles import services as profile_services

    _, bank = bank_ensure()
    sources = [Pair.Source.ACTIVE, Pair.Source.RANDOM, Pair.Source.COMPARE]
    # voters flagged by quality control stay out of the shared bases (their own profile still uses their votes)
    from webapp.quality.selectors import users_flagged

    flagged = users_flagged()
    votes = Vote.objects.filter(pair__source__in=sources, choice__in=list(OUTCOME)).exclude(user_id__in=flagged)
    voters = [row["user_id"] for row in votes.values("user_id").annotate(n=Count("id"))
              if row["n"] >= MIN_BANK_VOTES]
    if len(voters) < MIN_BANK_USERS:
        log.info("bank refit: %d users with %d+ votes, need %d", len(voters), MIN_BANK_VOTES, MIN_BANK_USERS)
        return None
    rows = list(votes.filter(user_id__in=voters).exclude(pair__left__embedding=None)
                .exclude(pair__right__embedding=None).exclude(pair__left__axis_scores=None)
                .exclude(pair__right__axis_scores=None)
                .values_list("user_id", "choice", "strength", "pair__left__axis_scores", "pair__right__axis_scores",
                             "pair__left__embedding", "pair__right__embedding"))

    users = [r[0] for r in rows]
    axes_first = torch.tensor([r[3] for r in rows], dtype=torch.float32)  # (N, A)
    axes_second = torch.tensor([r[4] for r in rows], dtype=torch.float32)  # (N, A)
    # rows without embeddings are excluded above; the row type can't say so
    emb_first = torch.stack([embedding_from_bytes(cast(bytes, r[5])) for r in rows])  # (N, d)
    emb_second = torch.stack([embedding_from_bytes(cast(bytes, r[6])) for r in rows])  # (N, d)
    outcomes = torch.tensor([OUTCOME[r[1]] for r in rows])  # (N,)
    weights = torch.tensor([STRENGTH_WEIGHT[r[2]] for r in rows], dtype=torch.float64)  # (N,)
    fit_votes: _BankVotes = {
        "bank": bank, "users": users, "axes_first": axes_first, "axes_second": axes_second, "emb_first": emb_first,
        "emb_second": emb_second, "outcomes": outcomes, "sample_weight": weights}
    config = worker_config()
    if config.bank_bases == "mixture":  # the bases are the rewards of prototypes learned from whole users' votes
        mixture = BradleyTerryMixture(tie_strength=config.tie_strength, prior_precision=config.prior_precision)
        new_bank, _, _ = bank_refit_mixture(**fit_votes, mixture=mixture)
        how = f"{new_bank.n_latent} latent bases (prototype rewards of a mixture over users)"
    else:
        new_bank, _ = bank_refit(**fit_votes, config=FactorizationConfig())
        how = f"{new_bank.n_latent} latent bases (low-rank factorization)"
    # MRM: the prior that makes a new user's first votes go furthest on this bank, learned across its users.
    diffs = new_bank.pair_diffs(axes_first, emb_first, axes_second, emb_second)  # (N, K)
    prior = MetaPrior(meta_steps=META_STEPS).fit(users, diffs, outcomes)
    state = {**new_bank.to_state(), "prior": prior.to_state()}
    row = profile_services.bank_activate(
        version=new_bank.version, encoder=new_bank.encoder, names=new_bank.names_, state=state,
        notes=f"named axes + {how} from {len(rows)} votes of {len(voters)} users"
              f" ({len(flagged)} flagged voters left out)",
    )
    log.info("bank v%d active: %d latent bases", row.version, new_bank.n_latent)
    return int(row.version)
