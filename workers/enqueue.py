"""How the web app asks for work: by task name, ids only, after the transaction commits.

Sending by name keeps the web process free of task bodies (and of torch); the names are the contract with
``workers.tasks``.
"""

from __future__ import annotations

from django.db import transaction

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


def profile_refit_enqueue(*, user_id: int) -> None:
    """Refit this user's profile from their stored votes once the current transaction commits."""
    transaction.on_commit(lambda: app.send_task(PROFILE_REFIT, kwargs={"user_id": user_id}))


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
