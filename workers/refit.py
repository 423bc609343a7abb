"""Profile refits: read the stored votes, fit with the ML library, store with a version claim, push live."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import cached_property, lru_cache

import torch
from django.db import IntegrityError
from django.db.models import Count, Max

from personalization.bank import BaseRewardBank
from personalization.encoder import EncoderConfig, SentenceEncoder
from personalization.prototypes import PrototypeModel, PrototypePosterior
from personalization.user_model import OUTCOME_FIRST, OUTCOME_SECOND, OUTCOME_TIE, UserRewardModel, user_fit
from webapp.catalog.models import Prompt, Response
from webapp.live import group_send
from webapp.profiles import selectors as profile_selectors
from webapp.profiles import services as profile_services
from webapp.profiles.models import BaseRewardBank as BaseRewardBankRow
from webapp.profiles.models import RewardProfile
from webapp.votes import selectors as vote_selectors
from webapp.votes.models import Vote
from webapp.webhooks.services import webhook_emit
from workers.config import worker_config
from workers.learning import pairs_suggest, summary_refresh

log = logging.getLogger(__name__)

_OUTCOME = {Vote.Choice.LEFT: OUTCOME_FIRST, Vote.Choice.RIGHT: OUTCOME_SECOND, Vote.Choice.TIE: OUTCOME_TIE}
#: strength of preference → likelihood weight (slight, clear, strong)
STRENGTH_WEIGHT = {1: 0.5, 2: 1.0, 3: 1.5}
MAX_CLAIM_ATTEMPTS = 3
INFLUENTIAL_VOTES = 3


class FeaturesMissing(RuntimeError):
    """Some voted responses have no features yet; the refit is deferred (the reconciler tries again)."""


def embedding_from_bytes(raw: bytes | memoryview) -> torch.Tensor:
    """(d,) float32 embedding from its stored bytes (a copy: the database buffer is read-only)."""
    return torch.frombuffer(bytearray(bytes(raw)), dtype=torch.float32)


def bank_ensure() -> tuple[int, BaseRewardBank]:
    """The active bank; version 1 (standardised named axes over the pool) is created on first use."""
    row = profile_selectors.bank_active()
    if row is not None:
        return row.pk, BaseRewardBank.from_state(row.state)
    scores = list(Response.objects.exclude(axis_scores=None).values_list("axis_scores", flat=True))
    if not scores:
        raise FeaturesMissing("no response has features yet: load the demo data or run the features job")
    bank = BaseRewardBank(version=1, encoder=worker_config().encoder).fit_axes(torch.tensor(scores))
    try:
        row = profile_services.bank_activate(
            version=1, encoder=bank.encoder, names=bank.names_, state=bank.to_state(),
            notes="named axes standardised over the response pool",
        )
    except IntegrityError:
        # Another worker process wrote version 1 since the check above (a room's first votes are refitted in
        # parallel): use theirs rather than lose this refit.
        row = profile_selectors.bank_active()
        if row is None:
            raise
        return row.pk, BaseRewardBank.from_state(row.state)
    return row.pk, bank


#: below this many preference votes, a user's weights come from the prototype-level posterior
COLD_START_VOTES = 10


def prototype_model_latest(bank_id: int, k: int) -> PrototypeModel | None:
    """The newest prototype clustering, if it was made on this bank (None before the first one)."""
    from webapp.prototypes.models import Prototype, PrototypeFit

    version = PrototypeFit.objects.order_by("-version").values_list("version", flat=True).first()
    banks = set(Prototype.objects.exclude(status=Prototype.Status.RETIRED).values_list("bank_id", flat=True))
    if version is None or banks != {bank_id}:
        return None
    model = _prototype_model(version)
    return model if model is not None and int(model.means_.shape[1]) == k else None


@lru_cache(maxsize=2)
def _prototype_model(version: int) -> PrototypeModel | None:
    from webapp.prototypes.models import PrototypeFit

    state = PrototypeFit.objects.filter(version=version).values_list("state", flat=True).first()
    return PrototypeModel.from_state(state) if state else None


@lru_cache(maxsize=4)
def bank_prior(bank_id: int, version: int) -> tuple[torch.Tensor | None, float | torch.Tensor]:
    """The bank's meta-learned prior (MRM) when its refit learned one: (mean (K,), precision (K,)); else the
    configured isotropic precision and no mean. Bank rows never change once written, so this caches by id and
    version."""
    from personalization.meta import MetaPrior

    state = (BaseRewardBankRow.objects.filter(pk=bank_id, version=version).values_list("state", flat=True).first()
             or {})
    if "prior" not in state:
        return None, worker_config().prior_precision
    prior = MetaPrior.from_state(state["prior"])
    return prior.mean_.double(), prior.precision_.double()


def _features(bank: BaseRewardBank, scores: list[list[float] | None], response_ids: list[int]) -> torch.Tensor:
    """φ (N, K) from raw axis scores; embeddings are read only when the bank has latent bases."""
    if any(row is None for row in scores):
        raise FeaturesMissing("a voted response has no axis scores yet")
    axes = torch.tensor(scores, dtype=torch.float32)  # (N, A)
    if bank.n_latent == 0:
        return bank.features(axes)
    stored = dict(Response.objects.filter(pk__in=set(response_ids)).values_list("pk", "embedding"))
    if any(stored.get(pk) is None for pk in response_ids):
        raise FeaturesMissing("a voted response has no embedding yet")
    embeddings = torch.stack([embedding_from_bytes(stored[pk]) for pk in response_ids])  # (N, d)
    return bank.features(axes, embeddings)


@dataclass
class UserPosterior:
    """What a user's stored votes say on one bank: the preference votes (oldest first) as rows, the individual
    MAP + Laplace fit under the (meta-learned, summary-nudged) prior, and the posterior over the newest prototypes
    (None before the first clustering on this bank)."""

    votes: list[Vote]
    diffs: torch.Tensor  # (N, K) φ(left) − φ(right)
    outcomes: torch.Tensor  # (N,) in {1, −1, 0}
    strengths: torch.Tensor  # (N,) likelihood weights
    individual: UserRewardModel
    prototypes: PrototypeModel | None
    tie_strength: float

    @cached_property
    def posterior(self) -> PrototypePosterior | None:
        """The posterior under the prototype-level mixture prior (P-GenRM); computed on first use."""
        if self.prototypes is None:
            return None
        return self.prototypes.posterior(self.diffs, self.outcomes, self.strengths, self.tie_strength)


def user_posterior(*, user_id: int, bank_id: int, bank: BaseRewardBank, up_to_id: int,
                   profile: RewardProfile | None) -> UserPosterior:
    """Fit a user from their stored votes up to ``up_to_id`` ("both bad" votes carry no preference)."""
    config = worker_config()
    votes = vote_selectors.votes_for_fit(user_id=user_id, up_to_id=up_to_id)
    preference_votes = [v for v in votes if v.choice in _OUTCOME]
    k = bank.dim
    meta_mean, prior_precision = bank_prior(bank_id, bank.version)
    nudge = summary_prior_mean(bank, profile.summary_axes if profile is not None else {})
    prior_mean = nudge if meta_mean is None else meta_mean + nudge
    if preference_votes:
        left = _features(bank, [v.left_scores for v in preference_votes],
                         [v.left_id for v in preference_votes])  # (N, K)
        right = _features(bank, [v.right_scores for v in preference_votes],
                          [v.right_id for v in preference_votes])  # (N, K)
        diffs = (left - right).double()  # (N, K)
        outcomes = torch.tensor([_OUTCOME[v.choice] for v in preference_votes])  # (N,)
        strengths = torch.tensor([STRENGTH_WEIGHT[v.strength] for v in preference_votes], dtype=torch.float64)
    else:
        diffs, outcomes = torch.zeros(0, k, dtype=torch.float64), torch.zeros(0, dtype=torch.int64)
        strengths = torch.zeros(0, dtype=torch.float64)
    individual = user_fit(diffs=diffs, outcomes=outcomes, strengths=strengths, prior_mean=prior_mean,
                          prior_precision=prior_precision, tie_strength=config.tie_strength, device=config.device)
    return UserPosterior(votes=preference_votes, diffs=diffs, outcomes=outcomes, strengths=strengths,
                         individual=individual, prototypes=prototype_model_latest(bank_id, k),
                         tie_strength=config.tie_strength)


def _votes_seen(user_id: int) -> dict[str, int | None]:
    """How many votes the user has and the newest one's id (``n``, ``newest``)."""
    return Vote.objects.filter(user_id=user_id).aggregate(n=Count("id"), newest=Max("id"))


def profile_fit(*, user_id: int, bank_id: int, bank: BaseRewardBank, profile: RewardProfile | None,
                all_votes: dict[str, int | None]) -> profile_services.ProfileFit:
    """Fit a user's weights from all their stored votes (both-bad votes are kept but carry no preference).
    ``all_votes`` (from ``_votes_seen``) was read before ``profile``: the fit covers exactly the votes up to its
    newest id, and a vote arriving meanwhile is newer than fitted_vote_id, so its own task refits it."""
    config = worker_config()
    fitted = user_posterior(user_id=user_id, bank_id=bank_id, bank=bank, up_to_id=all_votes["newest"] or 0,
                            profile=profile)
    k = bank.dim
    w, cov = fitted.individual.weights_.cpu(), fitted.individual.covariance_.cpu()
    # how much each vote pulls the weights its way: strength × margin of the observed side under w
    pull = fitted.strengths * fitted.outcomes.double() * (fitted.diffs @ w)  # (N,)
    top = torch.argsort(pull, descending=True)[:INFLUENTIAL_VOTES]
    influential = [[float(fitted.votes[i].id), round(float(pull[i]), 4)] for i in top.tolist()
                   if fitted.outcomes[i] != OUTCOME_TIE and float(pull[i]) > 0]
    if (fitted.prototypes is not None and len(fitted.votes) < COLD_START_VOTES
            and not (profile and profile.summary_edited) and fitted.posterior is not None):
        # P-GenRM: while a user has few votes, their posterior under the prototype-level prior (a mixture over
        # similar users' weights, each component updated by the user's votes) borrows from similar users.
        w, cov = fitted.posterior.moments()
    stddevs = [math.sqrt(max(float(cov[i, i]), 0.0)) for i in range(k)]
    top_id = int(influential[0][0]) if influential else None
    example = (Vote.objects.select_related("pair__prompt", "pair__left", "pair__right").filter(pk=top_id).first()
               if top_id is not None else None)
    summary = summary_refresh(profile=profile, names=bank.names_, weights=w.tolist(), stddevs=stddevs,
                              example_vote=example)
    from webapp.demos.selectors import participant_prompt_ids

    suggested = pairs_suggest(user_id=user_id, bank=bank, weights=w, covariance=cov,
                              tie_strength=config.tie_strength, seed=all_votes["n"],
                              prompt_ids=participant_prompt_ids(user_id=user_id))  # a demo guest: its session's
    return profile_services.ProfileFit(
        bank_id=bank_id, weights=w.tolist(), covariance=cov.tolist(), vote_count=all_votes["n"],
        fitted_vote_id=all_votes["newest"] or 0, suggested_pairs=suggested,
        influential_votes=influential, summary=summary,
    )


#: how far an edited summary moves the prior mean on an axis it mentions (in weight units; votes outweigh it)
SUMMARY_NUDGE = 1.0


def summary_prior_mean(bank: BaseRewardBank, summary_axes: dict[str, float]) -> torch.Tensor:
    """Prior mean implied by the user's own words: ``SUMMARY_NUDGE × delta`` on each axis they mention."""
    mean = torch.zeros(bank.dim, dtype=torch.float64)
    for i, name in enumerate(bank.names_):
        mean[i] = SUMMARY_NUDGE * float(summary_axes.get(name, 0.0))
    return mean


def summary_apply_run(*, user_id: int) -> int | None:
    """Read the user's edited summary onto the axes, store the nudge, refit and push."""
    from personalization.summaries import summary_to_axes

    profile = RewardProfile.objects.filter(user_id=user_id).first()
    if profile is None:
        return None
    axes = summary_to_axes(profile.summary) if profile.summary_edited else {}
    # fitted_vote_id = -1 marks the profile as behind, so the refit below (or the reconciler) uses the new prior
    RewardProfile.objects.filter(pk=profile.pk).update(summary_axes=axes, fitted_vote_id=-1)
    return profile_refit_run(user_id=user_id)


def profile_refit_run(*, user_id: int) -> int | None:
    """Bring one user's profile up to date with their stored votes; return the stored version (None: nothing to do).

    Idempotent: a profile already fitted through the user's newest vote is left alone.
    """
    from django.contrib.auth import get_user_model

    for _ in range(MAX_CLAIM_ATTEMPTS):
        # the votes first, then the profile: a vote stored in between is newer than what this fit claims
        all_votes = _votes_seen(user_id)
        current = RewardProfile.objects.filter(user_id=user_id).first()
        if current is None and not get_user_model().objects.filter(pk=user_id).exists():
            return None  # user deleted meanwhile (a profile goes with its user): nothing to fit
        newest = all_votes["newest"] or 0
        expected = current.version if current else 0
        up_to_date = current is not None and current.fitted_vote_id == newest and expected > 0
        if up_to_date and current is not None and current.bank_id == profile_selectors.bank_active_id():
            return None  # nothing new (another task covered this vote): no bank state to load
        bank_id, bank = bank_ensure()
        fit = profile_fit(user_id=user_id, bank_id=bank_id, bank=bank, profile=current, all_votes=all_votes)
        version = profile_services.profile_fit_store(user_id=user_id, expected_version=expected, fit=fit)
        if version is not None:
            from workers.demo_room import participant_refitted

            panel = participant_refitted(user_id=user_id, bank=bank, weights=fit.weights)  # a demo guest
            profile_push(user_id=user_id, version=version, demo_panel=panel)
            webhook_emit(event="profile.updated", data={
                "user_id": user_id, "version": version, "vote_count": fit.vote_count, "bank_version": bank.version,
                "axes": bank.names_, "weights": fit.weights})
            return version
        log.info("profile of user %s changed during refit; refitting again", user_id)
    raise RuntimeError(f"could not claim profile of user {user_id} after {MAX_CLAIM_ATTEMPTS} attempts")


def profile_push(*, user_id: int, version: int, staff_map: bool = True,
                 demo_panel: tuple[int, str] | None = None) -> None:
    """Tell the user's open pages that their profile changed; consumers re-read and render it. ``staff_map``:
    also tell open staff review maps (a caller pushing many profiles at once tells them once itself).
    ``demo_panel``: a demo participant's panel, already rendered, as (participant id, html)."""
    message: dict[str, object] = {"type": "profile.updated", "user_id": user_id, "version": version}
    if demo_panel is not None:
        message["participant_id"], message["demo_panel"] = demo_panel
    group_send(f"user.{user_id}", message)
    if staff_map:
        from workers.prototype_review import map_push

        map_push()  # the user's point on the staff map moved


@lru_cache(maxsize=2)
def encoder_get(model_path: str, device: str) -> SentenceEncoder:
    """One encoder per worker process: loading it is the expensive part."""
    return SentenceEncoder(EncoderConfig(model_path=model_path, device=device))


def responses_with_features(*, prompt: Prompt, answers: list[tuple[str, str]]) -> list[Response]:
    """Store answers ``(text, style)`` to ``prompt`` with their axis scores and embeddings, encoded in one batch:
    features are computed once per response, when it is written."""
    from personalization.axes import axes_score

    config = worker_config()
    texts = [text for text, _ in answers]
    vectors = encoder_get(config.encoder, config.device).encode([prompt.text] * len(texts), texts)  # (N, d)
    return [
        Response.objects.create(prompt=prompt, text=text, style=style, generator=config.generator,
                                axis_scores=axes_score(prompt.text, text), embedding=vector.numpy().tobytes(),
                                encoder=config.encoder)
        for (text, style), vector in zip(answers, vectors, strict=True)
    ]
