"""The job sweeper: beat runs it every ``JOBS_SWEEP_INTERVAL_SECONDS`` so no work dies silently.

A Redis restart without persistence, a purged queue or a killed worker loses a task's message; the rows that
describe the work stay. Every kind of row is swept here:

- generation jobs (compare page, API personalize) and API jobs (score, features): a queued job whose message is
  gone from the broker is re-sent; a running job whose heartbeat stopped (``workers.job_heartbeat``) is put back
  in the queue and re-sent. Each send counts on the row; after ``JOBS_MAX_ATTEMPTS`` the job fails with a message
  the user reads (pushed to the compare page as ``job.done``).
- webhook deliveries still pending past their longest backoff: re-sent (the delivery row counts the attempts).
- demo sessions whose reveal is still pending with no live task: re-sent, then failed; a missing default answer
  before the reveal: re-sent.
- a typed prompt's candidate pool that stopped growing with no live task: re-sent (the pool task writes only
  what is missing).

Tasks are idempotent under a re-send: each claims its row with a conditional UPDATE (QUEUED → RUNNING), so a
message that turns up again after all finds the job taken and does nothing. The sweeper's own writes are
conditional on what it read (status and heartbeat), so two sweeps or a worker racing it cannot both act.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import models, transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from webapp.live import group_send
from workers import contracts
from workers.broker_scan import LiveTasks, live_tasks

log = logging.getLogger(__name__)

LOST_ANSWER = "this answer was lost when a worker restarted; try again"
LOST_JOB = "this job was lost when a worker restarted; start it again"
LOST_REVEAL = "the reveal was lost when a worker restarted; close the session and show the room's map instead"


def jobs_sweep_run(*, now: datetime | None = None) -> dict[str, int]:
    """Re-send or fail every lost piece of work; returns what it did, by kind (zeros left out)."""
    now = now or timezone.now()
    live = live_tasks()
    if live is None:  # the broker is down: nothing can be re-sent now; the next sweep tries again
        return {}
    counts: Counter[str] = Counter()
    _sweep_generation(live, now, counts)
    _sweep_api(live, now, counts)
    _sweep_webhooks(live, now, counts)
    _sweep_demos(live, now, counts)
    _sweep_pools(live, now, counts)
    done = {key: value for key, value in sorted(counts.items()) if value}
    if done:
        log.info("job sweeper: %s", done)
    return done


# --- jobs with a row: GenerationJob, ApiJob ---------------------------------------------------------------------


def _stale(model: type[models.Model], now: datetime) -> list[Any]:
    """Queued jobs last seen alive ``JOBS_QUEUED_STALE_SECONDS`` ago and running ones whose heartbeat is
    ``JOBS_RUNNING_STALE_SECONDS`` old."""
    queued = now - timedelta(seconds=settings.JOBS_QUEUED_STALE_SECONDS)
    running = now - timedelta(seconds=settings.JOBS_RUNNING_STALE_SECONDS)
    return list(
        model._default_manager.filter(
            Q(status="queued", heartbeat_at__lt=queued) | Q(status="running", heartbeat_at__lt=running)
        ).order_by("created_at")
    )


def _resend_or_fail(
    model: type[models.Model], job: Any, now: datetime, *, error: str, extra: dict[str, Any] | None = None
) -> str:
    """Put a lost job back in the queue (the caller enqueues after commit) or fail it after the last attempt.
    Conditional on the status and heartbeat the sweep read: a worker that claimed or touched it meanwhile wins."""
    seen = model._default_manager.filter(pk=job.pk, status=job.status, heartbeat_at=job.heartbeat_at)
    if job.attempts >= settings.JOBS_MAX_ATTEMPTS:
        changed = seen.update(status="failed", error=error[:300], finished_at=now)
        return "failed" if changed else ""
    changed = seen.update(status="queued", attempts=F("attempts") + 1, heartbeat_at=now, **(extra or {}))
    return "resent" if changed else ""


def _job_done_push(job_id: str) -> None:
    """The compare page re-reads the job: its message when failed, cleared panes when it is written again."""
    message: contracts.JobDone = {"type": "job.done", "job_id": job_id}
    transaction.on_commit(lambda: group_send(contracts.job_group(job_id), dict(message)))


def _touch_waiting(model: type[models.Model], job: Any, now: datetime) -> None:
    """A queued job whose message still waits in the broker is alive (it counts in its user's limit)."""
    model._default_manager.filter(pk=job.pk, status="queued", heartbeat_at=job.heartbeat_at).update(
        heartbeat_at=now
    )


def _sweep_generation(live: LiveTasks, now: datetime, counts: Counter[str]) -> None:
    from webapp.generation.models import GenerationJob
    from workers.enqueue import compare_run_enqueue

    for job in _stale(GenerationJob, now):
        job_id = str(job.pk)
        if job.status == "queued" and live.has(contracts.COMPARE_RUN, job_id=job_id):
            _touch_waiting(GenerationJob, job, now)
            continue
        with transaction.atomic():
            # a page that never connected its socket never sent the job: it is sent now, so it is written anyway
            outcome = _resend_or_fail(
                GenerationJob,
                job,
                now,
                error=LOST_ANSWER,
                extra={"dispatched_at": now} if job.dispatched_at is None else None,
            )
            if outcome == "resent":
                compare_run_enqueue(job_id=job_id)
            if outcome == "failed" or (outcome == "resent" and job.status == "running"):
                _job_done_push(job_id)
        if outcome:
            counts[f"generation_{outcome}"] += 1


def _sweep_api(live: LiveTasks, now: datetime, counts: Counter[str]) -> None:
    from webapp.api.models import ApiJob
    from workers.enqueue import responses_features_enqueue, score_run_enqueue

    tasks = {
        ApiJob.Kind.SCORE: (contracts.SCORE_RUN, score_run_enqueue),
        ApiJob.Kind.FEATURES: (contracts.RESPONSES_FEATURES, responses_features_enqueue),
    }
    for job in _stale(ApiJob, now):
        if job.kind not in tasks:
            continue
        name, enqueue = tasks[job.kind]
        job_id = str(job.pk)
        if job.status == "queued" and live.has(name, job_id=job_id):
            _touch_waiting(ApiJob, job, now)
            continue
        with transaction.atomic():
            outcome = _resend_or_fail(ApiJob, job, now, error=LOST_JOB)
            if outcome == "resent":
                enqueue(job_id=job_id)
        if outcome:
            counts[f"api_{outcome}"] += 1


# --- webhook deliveries ---------------------------------------------------------------------------------------


def _sweep_webhooks(live: LiveTasks, now: datetime, counts: Counter[str]) -> None:
    """Pending deliveries whose next attempt is overdue by more than the grace: their retry message was lost."""
    from webapp.webhooks.models import WebhookDelivery
    from webapp.webhooks.services import retry_ceiling
    from workers.enqueue import webhook_deliver_enqueue

    grace = timedelta(seconds=settings.JOBS_QUEUED_STALE_SECONDS)
    for delivery in WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PENDING, created_at__lt=now - grace
    ).only("pk", "attempts", "created_at", "last_attempt_at"):
        if delivery.attempts and delivery.last_attempt_at is not None:
            due = delivery.last_attempt_at + timedelta(seconds=retry_ceiling(delivery.attempts))
        else:
            due = delivery.created_at
        if due + grace > now or live.has(contracts.WEBHOOK_DELIVER, delivery_id=delivery.pk):
            continue
        if not _once_per(f"webhook:{delivery.pk}", grace):
            continue  # re-sent lately; its message is on its way
        webhook_deliver_enqueue(delivery_id=delivery.pk)
        counts["webhooks_resent"] += 1


# --- demo sessions ------------------------------------------------------------------------------------------------


def _sweep_demos(live: LiveTasks, now: datetime, counts: Counter[str]) -> None:
    from webapp.demos import services as demo_services
    from webapp.demos.models import DemoSession
    from workers.enqueue import demo_prepare_enqueue, demo_reveal_enqueue

    stale = timedelta(seconds=settings.JOBS_DEMO_STALE_SECONDS)
    for session in DemoSession.objects.filter(
        stage__in=[DemoSession.Stage.REVEAL, DemoSession.Stage.CLOSED], reveal__status="pending"
    ).only("pk", "reveal", "stage_changed_at"):
        reveal = dict(session.reveal)
        sent_at = parse_datetime(str(reveal.get("sent_at", ""))) or session.stage_changed_at
        if sent_at + stale > now or live.has(contracts.DEMO_REVEAL, session_id=session.pk):
            continue
        attempts = int(reveal.get("attempts", 1))
        outcome = demo_services.session_reveal_resend(
            session_id=session.pk,
            seen=reveal,
            attempts=attempts,
            max_attempts=settings.JOBS_MAX_ATTEMPTS,
            error=LOST_REVEAL,
        )
        if outcome == "resent":
            demo_reveal_enqueue(session_id=session.pk)
        elif outcome == "failed":
            demo_services.presenter_push(session_id=session.pk, reason="reveal", rendered=True)
            stage = DemoSession.objects.filter(pk=session.pk).values_list("stage", flat=True).first()
            demo_services.room_push(session_id=session.pk, stage=str(stage))
        if outcome:
            counts[f"reveals_{outcome}"] += 1
    # the default answer is written ahead of the reveal; a reveal writes it itself, so only earlier stages
    for session_id in DemoSession.objects.filter(
        stage__in=[DemoSession.Stage.LOBBY, DemoSession.Stage.VOTING],
        default_answer="",
        showcase_prompt__isnull=False,
        created_at__lt=now - stale,
    ).values_list("pk", flat=True):
        if live.has(contracts.DEMO_PREPARE, session_id=session_id):
            continue
        if _bounded(f"demo_prepare:{session_id}", stale):
            demo_prepare_enqueue(session_id=session_id)
            counts["prepares_resent"] += 1


# --- candidate pools ----------------------------------------------------------------------------------------------


def _sweep_pools(live: LiveTasks, now: datetime, counts: Counter[str]) -> None:
    """Typed prompts whose pool has fewer answers than styles, no new answer for ``JOBS_POOL_STALE_SECONDS`` and
    no pool task waiting or running: re-sent (the pool writes only the missing styles)."""
    from webapp.catalog.models import Prompt
    from webapp.generation.services import POOL_STYLES
    from workers.enqueue import pool_generate_enqueue

    stale = timedelta(seconds=settings.JOBS_POOL_STALE_SECONDS)
    candidates = (
        Q(responses__isnull=False)
        & ~Q(responses__style="default")
        & ~Q(responses__style__startswith="personal")
    )
    prompts = (
        Prompt.objects.filter(
            source=Prompt.Source.USER,
            created_at__lt=now - stale,
            created_at__gte=now - timedelta(hours=settings.JOBS_POOL_MAX_AGE_HOURS),
        )
        .annotate(written=Count("responses", filter=candidates), newest=Max("responses__created_at"))
        .filter(written__lt=POOL_STYLES)
        .values_list("pk", "newest")
    )
    for prompt_id, newest in prompts:
        if newest is not None and newest + stale > now:
            continue  # still growing
        if live.has(contracts.POOL_GENERATE, prompt_id=prompt_id) or live.has(
            contracts.POOL_CANDIDATE, prompt_id=prompt_id
        ):
            continue
        if _bounded(f"pool:{prompt_id}", stale):
            pool_generate_enqueue(prompt_id=prompt_id)
            counts["pools_resent"] += 1


# --- work without a row of its own: attempts kept in the cache (Redis) ----------------------------------------


def _once_per(key: str, period: timedelta) -> bool:
    """True at most once per ``period`` for ``key`` (a re-send's message may take a moment to show up)."""
    return bool(cache.add(f"sweeper:sent:{key}", 1, timeout=max(1, int(period.total_seconds()))))


def _bounded(key: str, period: timedelta) -> bool:
    """A re-send of rowless work: at most once per ``period`` and ``JOBS_MAX_ATTEMPTS`` times a day."""
    if not _once_per(key, period):
        return False
    attempts_key = f"sweeper:attempts:{key}"
    cache.add(attempts_key, 0, timeout=24 * 3600)
    attempts = cache.incr(attempts_key)
    if attempts > settings.JOBS_MAX_ATTEMPTS:
        if attempts == settings.JOBS_MAX_ATTEMPTS + 1:
            log.error("job sweeper gave up on %s after %d re-sends", key, settings.JOBS_MAX_ATTEMPTS)
        return False
    return True
