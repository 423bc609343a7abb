"""Celery tasks: thin adapters that load by id and call one function. Bodies import the heavy parts."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.signals import task_postrun, task_prerun, worker_init, worker_process_init
from django.db import OperationalError, close_old_connections

from workers import contracts

log = logging.getLogger(__name__)


#: what a refit renders for live pages (demo participant panel, presenter screen, profile panel)
WARM_TEMPLATES = ("demos/room.html", "demos/present.html", "demos/_stats.html", "demos/_reveal.html",
                  "prototypes/_map.html", "profiles/_panel.html", "votes/vote.html")


#: torch's intra-op threads before the parent's warm-up pinned them to one (restored in each child)
_torch_threads_default: int | None = None


# Here, not in celery_app, so that the web process (which imports celery_app to enqueue) never sees it.
@worker_init.connect
def _warm_up(**_: object) -> None:
    """Do the workers' one-time work once, in the main process before the pool forks, so every child inherits it
    and starts within Celery's start-up limit (``worker_proc_alive_timeout``): import torch and the ML library,
    run one small fit (torch initialises its kernels on first use), compile the templates a refit renders.
    Measured: the first refits of a fresh process took 200-450 ms instead of 30-60 ms; done in each child this
    took 2.8-4.2 s on an idle 2-core machine, longer than Celery's 4 s default, so a respawned child was killed
    ("Timed out waiting for UP message") again and again and refits stopped for good.

    The fit runs on one thread: an OpenMP thread pool started before ``fork`` is not usable in the children;
    each child sets its own thread count (``_child_start``)."""
    global _torch_threads_default
    import torch
    from django.template.loader import get_template

    import workers.refit  # noqa: F401
    from personalization.user_model import user_fit
    from workers.config import worker_config

    config = worker_config()
    if _torch_threads_default is None:
        _torch_threads_default = torch.get_num_threads()
    torch.set_num_threads(1)
    diffs = torch.linspace(-1.0, 1.0, 24, dtype=torch.float64).reshape(3, 8)
    user_fit(diffs=diffs, outcomes=torch.tensor([1, -1, 0]), prior_precision=config.prior_precision,
             tie_strength=config.tie_strength, device=config.device)
    for name in WARM_TEMPLATES:
        get_template(name)
    _child_threads()  # a solo or threads pool never forks: its one process is the child


def _child_threads() -> None:
    import torch

    from workers.config import worker_config

    torch.set_num_threads(worker_config().torch_threads or _torch_threads_default or torch.get_num_threads())


@worker_process_init.connect
def _child_start(**_: object) -> None:
    """What a pool child cannot inherit, and nothing heavy (it must answer within ``worker_proc_alive_timeout``):
    its torch threads and one event loop for its pushes (``webapp.live``)."""
    from webapp.live import loop_own

    _child_threads()
    loop_own()


@task_prerun.connect
@task_postrun.connect
def _connections_tidy(sender: Any = None, **_: object) -> None:
    """Between tasks, what Django does between requests: close a connection that is broken, in a transaction left
    open, or older than ``CONN_MAX_AGE``; keep the rest. Celery's own Django fixup would close every connection
    before and after every task (``CELERY_DB_REUSE_MAX`` in the settings turns that off), so each refit paid a new
    PostgreSQL connection and lost the statements it had prepared."""
    if sender is not None and getattr(sender.request, "is_eager", False):
        return  # run in the caller's thread (tests): its connection is the caller's, maybe inside a transaction
    close_old_connections()


_RETRY = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 5,
}


@shared_task(name="tailor.profile_refit", acks_late=True, soft_time_limit=60, time_limit=90, **_RETRY)
def profile_refit(user_id: int) -> int | None:
    """Refit one user's profile from their stored votes (idempotent: safe to run twice or late). The coalescing
    key goes first, before any vote is read: a vote stored from now on queues the next refit."""
    from workers.enqueue import coalesce_release
    from workers.features import FeaturesMissing
    from workers.refit import profile_refit_run

    coalesce_release(contracts.PROFILE_REFIT, user_id)
    try:
        return profile_refit_run(user_id=int(user_id))
    except FeaturesMissing as exc:
        log.warning("refit of user %s deferred: %s", user_id, exc)
        return None


@shared_task(name=contracts.PROFILE_FOLLOW, acks_late=True, soft_time_limit=60, time_limit=90, **_RETRY)
def profile_follow(user_id: int) -> bool:
    """What follows a refit: suggestions, summary, a demo guest's panel, the staff map, the webhook (coalesced)."""
    from workers.enqueue import coalesce_release
    from workers.features import FeaturesMissing
    from workers.follow import profile_follow_run

    coalesce_release(contracts.PROFILE_FOLLOW, user_id)
    try:
        return profile_follow_run(user_id=int(user_id))
    except FeaturesMissing as exc:
        log.warning("follow-up of user %s skipped: %s", user_id, exc)
        return False


@shared_task(name=contracts.STAFF_MAP_PUSH, soft_time_limit=30, time_limit=60)
def staff_map_push() -> None:
    """The trailing push of a rate-limited window of staff map updates."""
    from workers.follow import staff_map_run

    staff_map_run()


@shared_task(name="tailor.profiles_reconcile", soft_time_limit=60, time_limit=90)
def profiles_reconcile() -> int:
    """Re-enqueue every profile older than its newest vote: a lost task or a dead worker only delays a refit."""
    from webapp.profiles.selectors import profiles_behind
    from workers.enqueue import profile_refit_send

    behind = profiles_behind()
    sent = sum(profile_refit_send(user_id=user_id) for user_id in behind)  # not those already queued
    if sent:
        log.info("reconciler sent %d profile refits (%d profiles behind)", sent, len(behind))
    return sent


@shared_task(name="tailor.jobs_sweep", soft_time_limit=60, time_limit=90)
def jobs_sweep() -> dict[str, int]:
    """Re-send or fail every lost piece of work (jobs, webhook deliveries, demo reveals, candidate pools)."""
    from workers.sweeper import jobs_sweep_run

    return jobs_sweep_run()


@shared_task(name="tailor.compare_run", acks_late=True, soft_time_limit=300, time_limit=360)
def compare_run(job_id: str) -> str | None:
    """Generate and stream a job's default and personalized answers (loads the LM: ``gpu`` queue)."""
    from workers.compare import compare_run_job

    return compare_run_job(job_id=str(job_id))


@shared_task(name="tailor.prototypes_refit", soft_time_limit=300, time_limit=360)
def prototypes_refit(audit_id: int | None = None) -> int:
    """Re-cluster users into prototypes (P-GenRM); ids stay stable across runs. ``audit_id``: staff asked for it."""
    from webapp.prototypes.models import PrototypeAudit
    from workers.learning import prototypes_refit_run

    requested_by = (PrototypeAudit.objects.filter(pk=audit_id).values_list("actor_id", flat=True).first()
                    if audit_id is not None else None)
    return prototypes_refit_run(requested_by=requested_by, audit_id=None if audit_id is None else int(audit_id))


@shared_task(name="tailor.summary_apply", acks_late=True, soft_time_limit=60, time_limit=90, **_RETRY)
def summary_apply(user_id: int) -> int | None:
    """Read an edited summary back onto the axes (POPI) and refit with the prior it implies."""
    from workers.refit import summary_apply_run

    return summary_apply_run(user_id=int(user_id))


@shared_task(name="tailor.bank_refit", soft_time_limit=1800, time_limit=1900)
def bank_refit() -> int | None:
    """Refit the shared latent base rewards from everyone's votes; profiles follow through the reconciler."""
    from workers.learning import bank_refit_run

    return bank_refit_run()


@shared_task(name="tailor.pool_generate", acks_late=True, soft_time_limit=900, time_limit=960)
def pool_generate(prompt_id: int) -> int:
    """Candidate answers for a new prompt under each style, with features (loads the LM: ``gpu`` queue)."""
    from workers.pool import pool_generate_run

    return pool_generate_run(prompt_id=int(prompt_id))


@shared_task(name="tailor.webhook_deliver", bind=True, acks_late=True, soft_time_limit=60, time_limit=90,
             max_retries=None)
def webhook_deliver(self, delivery_id: int) -> bool:  # type: ignore[no-untyped-def]
    """POST one webhook delivery; on failure retry with exponential backoff and jitter up to the configured
    number of attempts (the delivery row counts them, so retries survive a worker restart)."""
    from webapp.webhooks.services import delivery_attempt

    outcome = delivery_attempt(delivery_id=int(delivery_id))
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.delivered


@shared_task(name="tailor.score_run", acks_late=True, soft_time_limit=120, time_limit=180, **_RETRY)
def score_run(job_id: str) -> str | None:
    """Score answers under a user's reward (features may need the encoder: ``gpu`` queue)."""
    from workers.api_jobs import score_run_job

    return score_run_job(job_id=str(job_id))


@shared_task(name="tailor.responses_features", acks_late=True, soft_time_limit=900, time_limit=960, **_RETRY)
def responses_features(job_id: str) -> int:
    """Axis scores and embeddings of imported responses, so they join voting (loads the encoder: ``gpu``)."""
    from workers.api_jobs import responses_features_job

    return responses_features_job(job_id=str(job_id))


@shared_task(name="tailor.prototype_split", soft_time_limit=300, time_limit=360)
def prototype_split(key: int, audit_id: int | None = None) -> list[int]:
    """Re-cluster one prototype's members into two under new stable keys (staff review)."""
    from workers.prototype_review import prototype_split_run

    return prototype_split_run(key=int(key), audit_id=None if audit_id is None else int(audit_id))


@shared_task(name="tailor.prototype_stats", soft_time_limit=300, time_limit=360)
def prototype_stats() -> int:
    """Recompute each prototype's disagreement pairs and member agreement."""
    from workers.prototype_review import prototype_stats_refresh

    return prototype_stats_refresh()


@shared_task(name="tailor.demo_prepare", acks_late=True, soft_time_limit=300, time_limit=360, **_RETRY)
def demo_prepare(session_id: int) -> bool:
    """Write a demo session's default answer to its showcase prompt (may load the LM: ``gpu`` queue)."""
    from workers.demo_room import demo_prepare_run

    return demo_prepare_run(session_id=int(session_id))


@shared_task(name="tailor.demo_reveal", acks_late=True, soft_time_limit=300, time_limit=360, **_RETRY)
def demo_reveal(session_id: int) -> str:
    """The reveal stage's answers for the room's top prototypes, pushed to the presenter and the room."""
    from workers.demo_room import demo_reveal_run

    return demo_reveal_run(session_id=int(session_id))


@shared_task(name="tailor.demo_sessions_expire", soft_time_limit=120, time_limit=180)
def demo_sessions_expire() -> list[int]:
    """Close demo sessions past their expiry; delete guest accounts of sessions closed past the retention."""
    from webapp.demos.services import sessions_expire

    closed, deleted = sessions_expire()
    return [closed, deleted]
