"""How the web app (and a worker, for what follows its task) asks for work: by task name, ids only, after the
transaction commits.

Sending by name keeps the web process free of task bodies (and of torch); the names are ``workers.contracts``.

Refits and their follow-ups are *coalesced*: the sender adds a cache key (Redis ``SET NX EX``) and sends only if it
was absent; the task deletes the key as it starts, before it reads anything. So while one refit of a user waits,
more votes send nothing, and the refit that runs sees every vote committed before it started; a vote committed
after the key was deleted sends the next one. A lost task only delays a refit: the key expires and the reconciler
sends it again.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from workers import contracts
from workers.celery_app import app
from workers.contracts import (
    COMPARE_RUN,
    DEMO_PREPARE,
    DEMO_REVEAL,
    POOL_GENERATE,
    PROFILE_REFIT,
    PROTOTYPE_SPLIT,
    PROTOTYPE_STATS,
    PROTOTYPES_REFIT,
    RESPONSES_FEATURES,
    SCORE_RUN,
    SUMMARY_APPLY,
    WEBHOOK_DELIVER,
)

log = logging.getLogger(__name__)


def _coalesced_send(name: str, ident: int | str, kwargs: dict[str, object], *, ttl: float,
                    countdown: float | None = None) -> bool:
    """Send ``name`` unless one for ``ident`` is already queued; True if this call sent it."""
    key = contracts.coalesce_key(name, ident)
    try:
        if not cache.add(key, 1, timeout=ttl):
            return False
    except Exception:  # the cache is down: send anyway (every coalesced task is idempotent)
        log.warning("coalescing of %s(%s) skipped: cache unavailable", name, ident, exc_info=True)
    try:
        app.send_task(name, kwargs=kwargs, countdown=countdown)
    except Exception:
        coalesce_release(name, ident)  # nothing is queued: the next vote (or the reconciler) must send
        raise
    return True


def coalesce_release(name: str, ident: int | str) -> None:
    """Called by a coalesced task as it starts: later sends queue a new one."""
    try:
        cache.delete(contracts.coalesce_key(name, ident))
    except Exception:  # the key expires on its own
        log.warning("could not release %s(%s)", name, ident, exc_info=True)


def profile_refit_send(*, user_id: int) -> bool:
    """Queue a refit of this user now, unless one is already queued (it will see every vote stored so far)."""
    return _coalesced_send(PROFILE_REFIT, user_id, {"user_id": user_id}, ttl=settings.REFIT_COALESCE_SECONDS)


def profile_refit_enqueue(*, user_id: int) -> None:
    """Refit this user's profile from their stored votes once the current transaction commits. ``robust``: the
    vote is already stored when this runs, so a broker failure is logged (the reconciler sends the refit), never
    turned into a failed request."""
    transaction.on_commit(lambda: profile_refit_send(user_id=user_id), robust=True)


def profile_follow_send(*, user_id: int) -> bool:
    """After a refit stored a version: the follow-ups (suggestions, summary, pushes, webhook), coalesced."""
    return _coalesced_send(contracts.PROFILE_FOLLOW, user_id, {"user_id": user_id},
                           ttl=settings.REFIT_COALESCE_SECONDS)


def staff_map_send(*, countdown: float) -> bool:
    """One trailing push to open staff maps ``countdown`` seconds from now (at most one is pending)."""
    return _coalesced_send(contracts.STAFF_MAP_PUSH, "all", {}, ttl=countdown + 5.0, countdown=countdown)


def compare_run_enqueue(*, job_id: str) -> None:
    """Generate the default and the personalized answer of a job (loads the LM: ``gpu`` queue)."""
    transaction.on_commit(lambda: app.send_task(COMPARE_RUN, kwargs={"job_id": job_id}))


def summary_apply_enqueue(*, user_id: int) -> None:
    """Map an edited summary onto the axes and refit the profile with the nudged prior."""
    transaction.on_commit(lambda: app.send_task(SUMMARY_APPLY, kwargs={"user_id": user_id}))


def pool_generate_enqueue(*, prompt_id: int) -> None:
    """Write a candidate pool for a new prompt (loads the LM: ``gpu`` queue)."""
    transaction.on_commit(lambda: app.send_task(POOL_GENERATE, kwargs={"prompt_id": prompt_id}))


def webhook_deliver_enqueue(*, delivery_id: int) -> None:
    """POST one webhook delivery (retried with backoff by the task) once the current transaction commits."""
    transaction.on_commit(lambda: app.send_task(WEBHOOK_DELIVER, kwargs={"delivery_id": delivery_id}))


def score_run_enqueue(*, job_id: str) -> None:
    """Score texts under a user's reward (computes features, may load the encoder: ``gpu`` queue)."""
    transaction.on_commit(lambda: app.send_task(SCORE_RUN, kwargs={"job_id": job_id}))


def responses_features_enqueue(*, job_id: str) -> None:
    """Compute axis scores and embeddings of imported responses (loads the encoder: ``gpu`` queue)."""
    transaction.on_commit(lambda: app.send_task(RESPONSES_FEATURES, kwargs={"job_id": job_id}))


def demo_prepare_enqueue(*, session_id: int) -> None:
    """Write a demo session's default answer to its showcase prompt ahead of the reveal (loads the LM: ``gpu``)."""
    transaction.on_commit(lambda: app.send_task(DEMO_PREPARE, kwargs={"session_id": session_id}))


def demo_reveal_enqueue(*, session_id: int) -> None:
    """The reveal stage's answers: the default next to one per top prototype of the room (``gpu`` queue)."""
    transaction.on_commit(lambda: app.send_task(DEMO_REVEAL, kwargs={"session_id": session_id}))


def prototypes_refit_enqueue(*, audit_id: int) -> None:
    """Re-cluster everyone now (staff asked; ``audit_id`` is the request's audit row, completed by the worker)."""
    transaction.on_commit(lambda: app.send_task(PROTOTYPES_REFIT, kwargs={"audit_id": audit_id}))


def prototype_split_enqueue(*, key: int, audit_id: int) -> None:
    """Re-cluster one prototype's members into two (the library's clustering runs in the worker)."""
    transaction.on_commit(lambda: app.send_task(PROTOTYPE_SPLIT, kwargs={"key": key, "audit_id": audit_id}))


def prototype_stats_enqueue() -> None:
    """Recompute the prototypes' disagreement pairs and member agreement (after a merge or a retirement)."""
    transaction.on_commit(lambda: app.send_task(PROTOTYPE_STATS))
