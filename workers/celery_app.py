"""The Celery app: JSON only, one queue per work class (``workers.contracts.WorkClass``), beat's healing jobs.

Each work class has its own worker processes (``make run``'s supervisor, ``docker/compose.yaml``): refits never wait
behind generation, a demo reveal never waits behind a candidate pool, and the reconciler and the job sweeper run in
a process of their own, so a dead pool elsewhere cannot also stop the healing.

Importing this module imports no task body dependencies (torch, the ML library), so the web process can enqueue
through ``workers.enqueue`` without loading any of them.
"""

from __future__ import annotations

import os

from celery import Celery
from kombu.entity import Queue

from workers import contracts

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings.base")

app = Celery("tailor")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = tuple(Queue(str(work_class)) for work_class in contracts.WorkClass)
app.conf.task_default_queue = str(contracts.WorkClass.REALTIME)
app.conf.task_routes = {name: {"queue": str(work_class)} for name, work_class in contracts.TASK_CLASS.items()}
app.autodiscover_tasks(["workers"], related_name="tasks", force=True)

#: every queue, for a worker (or a test) that serves them all
ALL_QUEUES = [str(work_class) for work_class in contracts.WorkClass]


@app.on_after_finalize.connect
def _schedule(sender: Celery, **_: object) -> None:
    from django.conf import settings

    sender.add_periodic_task(
        settings.RECONCILE_INTERVAL_SECONDS,
        sender.signature(contracts.PROFILES_RECONCILE),
        name="reconcile profiles",
    )
    sender.add_periodic_task(
        settings.JOBS_SWEEP_INTERVAL_SECONDS,
        sender.signature(contracts.JOBS_SWEEP),
        name="re-send or fail lost work",
        expires=settings.JOBS_SWEEP_INTERVAL_SECONDS,  # a sweep that waited past the next one is not needed
    )
    sender.add_periodic_task(
        settings.PROTOTYPES_INTERVAL_SECONDS,
        sender.signature(contracts.PROTOTYPES_REFIT),
        name="refit prototypes",
    )
    sender.add_periodic_task(
        settings.BANK_REFIT_INTERVAL_SECONDS,
        sender.signature(contracts.BANK_REFIT),
        name="refit base rewards",
    )
    sender.add_periodic_task(
        settings.DEMO_EXPIRE_INTERVAL_SECONDS,
        sender.signature(contracts.DEMO_SESSIONS_EXPIRE),
        name="close expired demo sessions, delete old guests",
    )
