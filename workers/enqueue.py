"""How the web app asks for work: by task name, ids only, after the transaction commits.

Sending by name keeps the web process free of task bodies (and of torch); the names are the contract with
``workers.tasks``.
"""

from __future__ import annotations

from django.db import transaction

from workers.celery_app import app

PROFILE_REFIT = "tailor.profile_refit"
PROFILES_RECONCILE = "tailor.profiles_reconcile"
COMPARE_RUN = "tailor.compare_run"
SUMMARY_APPLY = "tailor.summary_apply"
POOL_GENERATE = "tailor.pool_generate"
DEMO_PREPARE = "tailor.demo_prepare"
DEMO_REVEAL = "tailor.demo_reveal"
DEMO_SESSIONS_EXPIRE = "tailor.demo_sessions_expire"
WEBHOOK_DELIVER = "tailor.webhook_deliver"
SCORE_RUN = "tailor.score_run"
RESPONSES_FEATURES = "tailor.responses_features"


def profile_refit_enqueue(*, user_id: int) -> None:
    """Refit this user's profile from their stored votes once the current transaction commits."""
    transaction.on_commit(lambda: app.send_task(PROFILE_REFIT, kwargs={"user_id": user_id}, queue="default"))


def compare_run_enqueue(*, job_id: str) -> None:
    """Generate the default and the personalized answer of a job (loads the LM: ``gpu`` queue)."""
    transaction.on_commit(lambda: app.send_task(COMPARE_RUN, kwargs={"job_id": job_id}, queue="gpu"))


def summary_apply_enqueue(*, user_id: int) -> None:
    """Map an edited summary onto the axes and refit the profile with the nudged prior."""
    transaction.on_commit(lambda: app.send_task(SUMMARY_APPLY, kwargs={"user_id": user_id}, queue="default"))


def pool_generate_enqueue(*, prompt_id: int) -> None:
    """Write a candidate pool for a new prompt (loads the LM: ``gpu`` queue)."""
    transaction.on_commit(lambda: app.send_task(POOL_GENERATE, kwargs={"prompt_id": prompt_id}, queue="gpu"))


def webhook_deliver_enqueue(*, delivery_id: int) -> None:
    """POST one webhook delivery (retried with backoff by the task) once the current transaction commits."""
    transaction.on_commit(lambda: app.send_task(WEBHOOK_DELIVER, kwargs={"delivery_id": delivery_id},
                                                queue="default"))


def score_run_enqueue(*, job_id: str) -> None:
    """Score texts under a user's reward (computes features, may load the encoder: ``gpu`` queue)."""
    transaction.on_commit(lambda: app.send_task(SCORE_RUN, kwargs={"job_id": job_id}, queue="gpu"))


def responses_features_enqueue(*, job_id: str) -> None:
    """Compute axis scores and embeddings of imported responses (loads the encoder: ``gpu`` queue)."""
    transaction.on_commit(lambda: app.send_task(RESPONSES_FEATURES, kwargs={"job_id": job_id}, queue="gpu"))


def demo_prepare_enqueue(*, session_id: int) -> None:
    """Write a demo session's default answer to its showcase prompt ahead of the reveal (loads the LM: ``gpu``)."""
    transaction.on_commit(lambda: app.send_task(DEMO_PREPARE, kwargs={"session_id": session_id}, queue="gpu"))


def demo_reveal_enqueue(*, session_id: int) -> None:
    """The reveal stage's answers: the default next to one per top prototype of the room (``gpu`` queue)."""
    transaction.on_commit(lambda: app.send_task(DEMO_REVEAL, kwargs={"session_id": session_id}, queue="gpu"))


PROTOTYPES_REFIT = "tailor.prototypes_refit"
PROTOTYPE_SPLIT = "tailor.prototype_split"
PROTOTYPE_STATS = "tailor.prototype_stats"


def prototypes_refit_enqueue(*, audit_id: int) -> None:
    """Re-cluster everyone now (staff asked; ``audit_id`` is the request's audit row, completed by the worker)."""
    transaction.on_commit(lambda: app.send_task(PROTOTYPES_REFIT, kwargs={"audit_id": audit_id}, queue="default"))


def prototype_split_enqueue(*, key: int, audit_id: int) -> None:
    """Re-cluster one prototype's members into two (the library's clustering runs in the worker)."""
    transaction.on_commit(lambda: app.send_task(PROTOTYPE_SPLIT, kwargs={"key": key, "audit_id": audit_id},
                                                queue="default"))


def prototype_stats_enqueue() -> None:
    """Recompute the prototypes' disagreement pairs and member agreement (after a merge or a retirement)."""
    transaction.on_commit(lambda: app.send_task(PROTOTYPE_STATS, queue="default"))
