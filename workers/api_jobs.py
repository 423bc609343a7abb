"""Worker bodies of the API's jobs: a user's reward for arbitrary texts, features of imported responses.

Both compute features (named-axis scores, and the encoder's embedding when needed), which is why they run in a
``gpu``-queue worker and never in the web process.
"""

from __future__ import annotations

import logging

import torch

from personalization.axes import AXIS_NAMES, axes_score
from personalization.bank import BaseRewardBank
from webapp.api import services as job_services
from webapp.api.models import ApiJob
from webapp.catalog.models import Response
from webapp.profiles.models import BaseRewardBank as BaseRewardBankRow
from webapp.profiles.models import RewardProfile
from workers.config import worker_config
from workers.features import encoder_get
from workers.job_heartbeat import job_heartbeat

log = logging.getLogger(__name__)

FEATURE_BATCH = 32


def score_run_job(*, job_id: str) -> str | None:
    """r_u(x, y) = w_u · φ(x, y) for each answer, with the named axes' contributions; idempotent (claimed once)."""
    job = job_services.job_claim(job_id=job_id, kind=ApiJob.Kind.SCORE)
    if job is None:
        return None
    try:
        with job_heartbeat(ApiJob, job_id):
            result = _score(job)
    except Exception as exc:  # the client polling the job must hear about any failure
        log.exception("score job %s failed", job_id)
        job_services.job_finish(job_id=job_id, error=str(exc) or type(exc).__name__)
        raise
    job_services.job_finish(job_id=job_id, result=result)
    return job_id


def _score(job: ApiJob) -> dict[str, object]:
    profile = RewardProfile.objects.filter(user_id=job.user_id).first()
    row = BaseRewardBankRow.objects.filter(pk=profile.bank_id).first() if profile and profile.bank_id else None
    if profile is None or row is None or not profile.weights:
        raise ValueError("the user has no fitted reward profile")
    bank = BaseRewardBank.from_state(row.state)
    prompt, answers = str(job.params["prompt"]), [str(a) for a in job.params["answers"]]
    axes = torch.tensor([axes_score(prompt, a) for a in answers], dtype=torch.float32)  # (N, A)
    if bank.n_latent:
        config = worker_config()
        embeddings = encoder_get(config.encoder, config.device).encode([prompt] * len(answers), answers)  # (N, d)
        features = bank.features(axes, embeddings)  # (N, K)
    else:
        features = bank.features(axes)  # (N, K)
    weights = torch.tensor(profile.weights, dtype=torch.float32)  # (K,)
    contributions = features * weights  # (N, K)
    scores = []
    for i in range(len(answers)):
        scores.append({
            "reward": round(float(contributions[i].sum()), 6),
            "axes": {name: round(float(contributions[i, k]), 6) for k, name in enumerate(AXIS_NAMES)},
        })
        job_services.job_progress(job_id=str(job.pk), done=i + 1)
    return {"profile_version": profile.version, "bank_version": row.version, "scores": scores}


def responses_features_job(*, job_id: str) -> int:
    """Axis scores and embeddings of imported responses, in batches, with progress; rows that already have
    features are left alone (so a rerun only finishes what is missing)."""
    job = job_services.job_claim(job_id=job_id, kind=ApiJob.Kind.FEATURES)
    if job is None:
        return 0
    try:
        with job_heartbeat(ApiJob, job_id):
            count = _features(job)
    except Exception as exc:
        log.exception("features job %s failed", job_id)
        job_services.job_finish(job_id=job_id, error=str(exc) or type(exc).__name__)
        raise
    job_services.job_finish(job_id=job_id, result={"responses_with_features": count})
    return count


def _features(job: ApiJob) -> int:
    config = worker_config()
    ids = [int(i) for i in job.params.get("response_ids", [])]
    encoder = encoder_get(config.encoder, config.device)
    done = computed = 0
    for start in range(0, len(ids), FEATURE_BATCH):
        batch = list(Response.objects.filter(pk__in=ids[start : start + FEATURE_BATCH]).select_related("prompt")
                     .filter(embedding=None))
        if batch:
            vectors = encoder.encode([r.prompt.text for r in batch], [r.text for r in batch])  # (B, d)
            for response, vector in zip(batch, vectors, strict=True):
                Response.objects.filter(pk=response.pk).update(
                    axis_scores=axes_score(response.prompt.text, response.text),
                    embedding=vector.numpy().tobytes(), encoder=config.encoder)
            computed += len(batch)
        done = min(start + FEATURE_BATCH, len(ids))
        job_services.job_progress(job_id=str(job.pk), done=done)
    return computed
