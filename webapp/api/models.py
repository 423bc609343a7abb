"""Jobs the API starts that take a worker (scoring texts, features of imported responses), with their progress."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from webapp.generation.models import JobStatus


class ApiJob(models.Model):
    class Kind(models.TextChoices):
        SCORE = "score", "score answers under the user's reward"
        FEATURES = "features", "features of imported responses"

    Status = JobStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_jobs")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    params = models.JSONField(default=dict)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    result = models.JSONField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # times the job was sent to a worker (at creation, then each re-send by the job sweeper)
    attempts = models.PositiveSmallIntegerField(default=0)
    # last sign of life (created, sent, claimed, touched while running): see ``GenerationJob.heartbeat_at``
    heartbeat_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"])]

    @property
    def progress(self) -> float:
        if self.status == self.Status.DONE:
            return 1.0
        return self.done / self.total if self.total else 0.0
