"""Writes for API jobs: create one and send it to a worker after commit; workers report progress and results."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from webapp.api.models import ApiJob
from webapp.profiles.models import RewardProfile
from workers.enqueue import responses_features_enqueue, score_run_enqueue

MAX_SCORE_ANSWERS = 16
MAX_PROMPT_CHARS = 4000
MAX_ANSWER_CHARS = 20000


class JobRejected(ValueError):
    """A job that cannot start; ``str(exc)`` is safe to show. ``conflict``: valid input, wrong state."""

    def __init__(self, message: str, *, conflict: bool = False) -> None:
        super().__init__(message)
        self.conflict = conflict


@transaction.atomic
def score_start(*, user: User, prompt: str, answers: list[str]) -> ApiJob:
    """Ask a worker for the user's reward ``w_u · φ(prompt, answer)`` of each answer."""
    if not prompt.strip():
        raise JobRejected("prompt is empty")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise JobRejected(f"prompt is limited to {MAX_PROMPT_CHARS} characters")
    if not 1 <= len(answers) <= MAX_SCORE_ANSWERS:
        raise JobRejected(f"send between 1 and {MAX_SCORE_ANSWERS} answers")
    if any(not a.strip() or len(a) > MAX_ANSWER_CHARS for a in answers):
        raise JobRejected(f"each answer must be non-empty and at most {MAX_ANSWER_CHARS} characters")
    if not RewardProfile.objects.filter(user=user, version__gt=0).exclude(weights=[]).exists():
        raise JobRejected("you have no reward profile yet: vote on a few pairs first", conflict=True)
    job = ApiJob.objects.create(user=user, kind=ApiJob.Kind.SCORE, params={"prompt": prompt, "answers": answers},
                                total=len(answers), attempts=1)
    score_run_enqueue(job_id=str(job.pk))
    return job


@transaction.atomic
def features_start(*, user: User, response_ids: list[int]) -> ApiJob:
    """Ask a gpu worker for the axis scores and embeddings of these responses."""
    job = ApiJob.objects.create(user=user, kind=ApiJob.Kind.FEATURES, params={"response_ids": response_ids},
                                total=len(response_ids), attempts=1)
    responses_features_enqueue(job_id=str(job.pk))
    return job


def job_claim(*, job_id: str, kind: str) -> ApiJob | None:
    """Move a queued job to running exactly once (a redelivered task finds it claimed and does nothing)."""
    claimed = ApiJob.objects.filter(pk=job_id, kind=kind, status=ApiJob.Status.QUEUED).update(
        status=ApiJob.Status.RUNNING, heartbeat_at=timezone.now())
    return ApiJob.objects.filter(pk=job_id).first() if claimed == 1 else None


def job_progress(*, job_id: str, done: int) -> None:
    ApiJob.objects.filter(pk=job_id).update(done=done)


def job_finish(*, job_id: str, result: dict[str, Any] | None = None, error: str = "") -> None:
    status = ApiJob.Status.FAILED if error else ApiJob.Status.DONE
    changes: dict[str, Any] = {"status": status, "result": result, "error": error[:300], "finished_at": timezone.now()}
    if not error:
        changes["done"] = ApiJob.objects.filter(pk=job_id).values_list("total", flat=True).first() or 0
    ApiJob.objects.filter(pk=job_id).update(**changes)
