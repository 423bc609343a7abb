"""Webhooks: emit an event (one delivery row per subscribed endpoint, sent after commit) and attempt a delivery.

The body is fixed when the event is emitted and signed with HMAC-SHA256 over its exact bytes, so a receiver
verifies ``X-Tailor-Signature: sha256=<hex>`` with its secret, and every retry is byte-identical. The Celery task
(``tailor.webhook_deliver``, ``default`` queue) calls ``delivery_attempt`` and retries with exponential backoff
and jitter while it says so.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from webapp.webhooks.models import Event, WebhookDelivery, WebhookEndpoint
from workers.enqueue import webhook_deliver_enqueue

SIGNATURE_HEADER = "X-Tailor-Signature"


def signature_for(*, secret: str, body: bytes) -> str:
    """The signature header value a receiver recomputes: ``sha256=`` + hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookRejected(ValueError):
    """An endpoint that cannot be registered; ``str(exc)`` is safe to show."""


def _check_events(events: list[str]) -> list[str]:
    if not events:
        raise WebhookRejected("subscribe to at least one event")
    unknown = sorted(set(events) - set(Event.values))
    if unknown:
        raise WebhookRejected(f"unknown events {unknown}; known: {sorted(Event.values)}")
    return sorted(set(events))


@transaction.atomic
def endpoint_create(*, url: str, events: list[str], created_by: Any = None, description: str = "") -> WebhookEndpoint:
    if not url.startswith(("http://", "https://")):
        raise WebhookRejected("the URL must be http:// or https://")
    return WebhookEndpoint.objects.create(url=url, events=_check_events(events), created_by=created_by,
                                          description=description)


def webhook_emit(*, event: str, data: dict[str, Any]) -> list[int]:
    """Queue ``event`` for every active endpoint subscribed to it; returns the delivery ids.

    Rows are written in the caller's transaction and the tasks are sent after it commits, so a rolled-back vote
    never announces itself. With no subscriber (the usual case, on every vote) it costs one query.
    """
    if event not in Event.values:
        raise ValueError(f"unknown webhook event {event!r}")
    endpoints = [e for e in WebhookEndpoint.objects.filter(is_active=True).only("id", "events") if event in e.events]
    ids: list[int] = []
    if not endpoints:
        return ids
    with transaction.atomic():
        for endpoint in endpoints:
            delivery_id = uuid.uuid4()
            body = json.dumps({"id": str(delivery_id), "event": event, "created_at": timezone.now().isoformat(),
                               "data": data}, cls=DjangoJSONEncoder, separators=(",", ":"), sort_keys=True)
            delivery = WebhookDelivery.objects.create(endpoint=endpoint, event=event, body=body)
            webhook_deliver_enqueue(delivery_id=delivery.pk)
            ids.append(delivery.pk)
    return ids


@dataclass(frozen=True)
class AttemptOutcome:
    delivered: bool
    retry_in: float | None  # seconds until the next attempt; None: nothing more to do


def retry_ceiling(attempt: int) -> float:
    """The longest wait after attempt number ``attempt`` (1-based): a delivery still pending past it was lost."""
    config = settings.TAILOR_WEBHOOKS
    ceiling: float = min(float(config["backoff_max_seconds"]), float(config["backoff_seconds"]) * 2.0 ** (attempt - 1))
    return ceiling


def retry_delay(attempt: int, *, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter after attempt number ``attempt`` (1-based)."""
    ceiling = retry_ceiling(attempt)
    return (rng or random).uniform(ceiling / 2, ceiling)


def delivery_attempt(*, delivery_id: int) -> AttemptOutcome:
    """POST one delivery once and log the outcome; tells the task whether and when to try again.

    A 2xx answer delivers it; anything else (an error status, a timeout, a refused connection) is an attempt that
    failed, retried until ``TAILOR_WEBHOOKS['max_attempts']``. Delivered or given-up deliveries are left alone,
    so a task run twice sends nothing twice.
    """
    import httpx

    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return AttemptOutcome(delivered=delivery is not None and delivery.status == "delivered", retry_in=None)
    config = settings.TAILOR_WEBHOOKS
    body = delivery.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Tailor-Webhooks/1",
        "X-Tailor-Event": delivery.event,
        "X-Tailor-Delivery": str(delivery.pk),
        SIGNATURE_HEADER: signature_for(secret=delivery.endpoint.secret, body=body),
    }
    status_code, error = None, ""
    try:
        response = httpx.post(delivery.endpoint.url, content=body, headers=headers,
                              timeout=float(config["timeout_seconds"]), follow_redirects=False)
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
    attempts = delivery.attempts + 1
    now = timezone.now()
    if not error:
        status = WebhookDelivery.Status.DELIVERED
    elif attempts >= int(config["max_attempts"]):
        status = WebhookDelivery.Status.FAILED
    else:
        status = WebhookDelivery.Status.PENDING
    WebhookDelivery.objects.filter(pk=delivery.pk, attempts=delivery.attempts).update(
        attempts=attempts, status=status, response_status=status_code, error=error, last_attempt_at=now,
        delivered_at=now if status == WebhookDelivery.Status.DELIVERED else None,
    )
    if status == WebhookDelivery.Status.PENDING:
        return AttemptOutcome(delivered=False, retry_in=retry_delay(attempts))
    return AttemptOutcome(delivered=status == WebhookDelivery.Status.DELIVERED, retry_in=None)
