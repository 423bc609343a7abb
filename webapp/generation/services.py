"""Writes for generation jobs. The web process only creates and enqueues; a gpu worker generates."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from webapp.catalog.models import Prompt
from webapp.generation.models import GenerationJob, job_alive
from workers.enqueue import compare_run_enqueue, pool_generate_enqueue

MAX_PROMPT_CHARS = 500
#: answers in a new prompt's candidate pool: one per style of the demo library (webapp/catalog/demo/prompts.json)
POOL_STYLES = 8
#: answers one user may have queued or being written at once
MAX_JOBS_PER_USER = 3


class GenerationRejected(ValueError):
    """The request cannot be served; ``str(exc)`` is safe to show."""


@transaction.atomic
def prompt_from_user(*, text: str) -> Prompt:
    """A prompt typed by a user (length-limited); the same text reuses the same prompt row."""
    text = " ".join(text.split())
    if not text:
        raise GenerationRejected("type a prompt first")
    if len(text) > MAX_PROMPT_CHARS:
        raise GenerationRejected(f"prompts are limited to {MAX_PROMPT_CHARS} characters")
    prompt, created = Prompt.objects.get_or_create(
        text=text, defaults={"source": Prompt.Source.USER, "domain": "user"}
    )
    if created:
        pool_generate_enqueue(prompt_id=prompt.pk)  # its candidate pool, so it becomes votable for everyone
    return prompt


@transaction.atomic
def compare_start(*, user: User, prompt: Prompt, method: str) -> GenerationJob:
    """Create a job; it goes to a gpu worker when the page's socket connects (``compare_dispatch``)."""
    if method not in GenerationJob.Method.values:
        raise GenerationRejected(f"unknown method {method!r}")
    # only jobs really alive: a job lost with a restarted broker or worker must never lock its user out
    running = GenerationJob.objects.filter(job_alive(), user=user).count()
    if running >= MAX_JOBS_PER_USER:
        raise GenerationRejected(
            f"you already have {MAX_JOBS_PER_USER} answers being written: wait for one to finish"
        )
    return GenerationJob.objects.create(user=user, prompt=prompt, method=method)


@transaction.atomic
def compare_dispatch(*, job_id: str, user_id: int) -> bool:
    """Send a job to a worker once, when its listener is there; False when already sent or not the user's."""
    from django.db.models import F
    from django.utils import timezone

    now = timezone.now()
    sent = GenerationJob.objects.filter(pk=job_id, user_id=user_id, dispatched_at__isnull=True).update(
        dispatched_at=now, heartbeat_at=now, attempts=F("attempts") + 1
    )
    if sent == 1:
        compare_run_enqueue(job_id=str(job_id))
        transaction.on_commit(queue_positions_push, robust=True)
    return sent == 1


def compare_cancel(*, job_id: str, user_id: int) -> bool:
    """Stop a job its user no longer waits for: a queued one is skipped when a worker gets to it (the claim only
    takes queued jobs), a running one stops at the worker's next cancel check. True if this call cancelled it."""
    from django.utils import timezone

    from webapp.live import group_send

    cancelled = GenerationJob.objects.filter(
        pk=job_id, user_id=user_id, status__in=[GenerationJob.Status.QUEUED, GenerationJob.Status.RUNNING]
    ).update(status=GenerationJob.Status.CANCELLED, finished_at=timezone.now())
    if cancelled:
        group_send(f"job.{job_id}", {"type": "job.done", "job_id": str(job_id)})
        queue_positions_push()
    return cancelled == 1


def queue_positions_push() -> None:
    """Tell every waiting compare page how many interactive jobs are before it (``contracts.JobQueued``): the
    jobs being written now plus the queued ones sent to a worker before it. Called when the queue changes (a job
    sent, claimed, finished or cancelled); a handful of rows, one query each way."""
    from webapp.live import group_send
    from workers.contracts import JobQueued

    running = GenerationJob.objects.filter(job_alive(), status=GenerationJob.Status.RUNNING).count()
    queued = (
        GenerationJob.objects.filter(
            job_alive(), status=GenerationJob.Status.QUEUED, dispatched_at__isnull=False
        )
        .order_by("dispatched_at")
        .values_list("pk", flat=True)
    )
    for index, pk in enumerate(queued):
        message: JobQueued = {"type": "job.queued", "job_id": str(pk), "ahead": running + index}
        group_send(f"job.{pk}", dict(message))
