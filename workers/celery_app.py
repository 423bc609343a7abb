"""The Celery app: JSON only, queues ``gpu`` (anything that loads a model) and ``default``, beat reconciler.

Importing this module imports no task body dependencies (torch, the ML library), so the web process can enqueue
through ``workers.enqueue`` without loading any of them.
"""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings.base")

app = Celery("tailor")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("default"), Queue("gpu"))
app.conf.task_routes = {
    "tailor.compare_run": {"queue": "gpu"},
    "tailor.pool_generate": {"queue": "gpu"},
    "tailor.demo_prepare": {"queue": "gpu"},
    "tailor.demo_reveal": {"queue": "gpu"},
    "tailor.score_run": {"queue": "gpu"},
    "tailor.responses_features": {"queue": "gpu"},
}
app.autodiscover_tasks(["workers"], related_name="tasks", force=True)


@app.on_after_finalize.connect
def _schedule(sender: Celery, **_: object) -> None:
    from django.conf import settings

    sender.add_periodic_task(
        settings.RECONCILE_INTERVAL_SECONDS, sender.signature("tailor.profiles_reconcile"), name="reconcile profiles"
    )
    sender.add_periodic_task(
        settings.PROTOTYPES_INTERVAL_SECONDS, sender.signature("tailor.prototypes_refit"), name="refit prototypes"
    )
    sender.add_periodic_task(
        settings.BANK_REFIT_INTERVAL_SECONDS, sender.signature("tailor.bank_refit"), name="refit base rewards"
    )
    sender.add_periodic_task(
        settings.DEMO_EXPIRE_INTERVAL_SECONDS, sender.signature("tailor.demo_sessions_expire"),
        name="close expired demo sessions, delete old guests",
    )
