"""Webhook endpoints registered by staff and every delivery to them (the log staff read when a receiver breaks)."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models


class Event(models.TextChoices):
    VOTE_CREATED = "vote.created", "a vote was stored"
    PROFILE_UPDATED = "profile.updated", "a worker stored a profile refit"
    PROTOTYPE_CHANGED = "prototype.changed", "a prototype refit changed the prototypes"


def _secret() -> str:
    return secrets.token_urlsafe(32)


class WebhookEndpoint(models.Model):
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list, help_text="event names this endpoint receives")
    # HMAC-SHA256 key of the X-Tailor-Signature header; shown to staff so the receiver can verify
    secret = models.CharField(max_length=100, default=_secret)
    description = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        DELIVERED = "delivered", "delivered"
        FAILED = "failed", "failed (gave up)"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40, choices=Event.choices)
    # the exact bytes signed and sent (as text): every retry sends the same body and signature
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["endpoint", "-id"])]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint_id} ({self.status})"
