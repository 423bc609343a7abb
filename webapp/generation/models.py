"""Generation jobs: the same prompt answered by default and for the user, streamed by a gpu worker."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone


class JobStatus(models.TextChoices):
    """Where a worker job stands; shared by every kind of job a page or the API waits on."""

    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    DONE = "done", "done"
    FAILED = "failed", "failed"
    #: stopped by its user (the Cancel button, or the page's socket closed) while queued or running
    CANCELLED = "cancelled", "cancelled"


def job_alive(*, now: datetime | None = None) -> models.Q:
    """Jobs a worker is on or will get to: queued or running with a recent heartbeat (the job sweeper's
    thresholds). A lost job's heartbeat stops; until the sweeper re-sends or fails it, it counts for nobody."""
    from django.conf import settings as conf

    now = now or timezone.now()
    return models.Q(
        status=JobStatus.QUEUED, heartbeat_at__gte=now - timedelta(seconds=conf.JOBS_QUEUED_STALE_SECONDS)
    ) | models.Q(
        status=JobStatus.RUNNING, heartbeat_at__gte=now - timedelta(seconds=conf.JOBS_RUNNING_STALE_SECONDS)
    )


class GenerationJob(models.Model):
    class Method(models.TextChoices):
        BEST_OF_N = "best_of_n", "best of N, reranked by your reward"
        SUMMARY = "summary", "conditioned on your summary"
        GUIDED = "guided", "guided token by token (PAD)"

    Status = JobStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="generation_jobs"
    )
    prompt = models.ForeignKey("catalog.Prompt", on_delete=models.CASCADE, related_name="+")
    method = models.CharField(max_length=12, choices=Method.choices, default=Method.SUMMARY)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    summary_used = models.TextField(blank=True)
    default_text = models.TextField(blank=True)
    personal_text = models.TextField(blank=True)
    # named-axis contributions w_k · (φ_k(personal) − φ_k(default)): the "why" panel
    why = models.JSONField(default=list, blank=True)
    pair = models.ForeignKey("votes.Pair", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # set when the page's socket is listening and the job went to a worker (so no delta is streamed unheard)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # times the job was sent to a worker (the page's dispatch, then each re-send by the job sweeper)
    attempts = models.PositiveSmallIntegerField(default=0)
    # last sign of life: created, sent, claimed, then touched every few seconds by the worker running it; a job
    # whose heartbeat stopped was lost (a restarted broker, a killed worker) and is re-sent or failed by the sweeper
    heartbeat_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"])]
