"""Every name and payload that crosses a process, in one place: work classes (queues), task names, Channels groups
and the typed messages sent to them. The web app (sender of tasks, receiver of pushes) and the workers (receiver of
tasks, sender of pushes) both import from here, so "go to definition" follows a vote from the view to the consumer.

This module imports nothing heavy (no Django models, no torch), so any process may import it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, TypedDict


class WorkClass(StrEnum):
    """A queue and the worker processes that serve it. Each class has its own processes, so one class's backlog
    never delays another's work."""

    #: refits and what follows them (suggestions, summaries, pushes): short, CPU-light, many per second
    REALTIME = "realtime"
    #: generation a person is waiting for on a page: compare, best-of-N, PAD, the demo reveal, score jobs
    INTERACTIVE = "interactive"
    #: everything nobody watches token by token: candidate pools (one candidate a task), features of imported
    #: answers, bank and prototype refits, prototype statistics
    BATCH = "batch"
    #: the healing jobs beat schedules (reconciler, job sweeper, heartbeats) and webhook deliveries: a thread pool
    #: of its own, so a dead or busy pool elsewhere cannot also stop the healing
    MAINTENANCE = "maintenance"


# --- task names ------------------------------------------------------------------------------------------------
PROFILE_REFIT = "tailor.profile_refit"
PROFILE_FOLLOW = "tailor.profile_follow"  # what follows a refit: suggestions, summary, pushes (coalesced)
STAFF_MAP_PUSH = "tailor.staff_map_push"  # the trailing push of a rate-limited window of staff map updates
SUMMARY_APPLY = "tailor.summary_apply"
PROFILES_RECONCILE = "tailor.profiles_reconcile"
JOBS_SWEEP = "tailor.jobs_sweep"
HEARTBEAT = "tailor.heartbeat"
COMPARE_RUN = "tailor.compare_run"
SCORE_RUN = "tailor.score_run"
DEMO_PREPARE = "tailor.demo_prepare"
DEMO_REVEAL = "tailor.demo_reveal"
POOL_GENERATE = "tailor.pool_generate"
POOL_CANDIDATE = "tailor.pool_candidate"
RESPONSES_FEATURES = "tailor.responses_features"
BANK_REFIT = "tailor.bank_refit"
PROTOTYPES_REFIT = "tailor.prototypes_refit"
PROTOTYPE_SPLIT = "tailor.prototype_split"
PROTOTYPE_STATS = "tailor.prototype_stats"
WEBHOOK_DELIVER = "tailor.webhook_deliver"
DEMO_SESSIONS_EXPIRE = "tailor.demo_sessions_expire"

#: which work class runs each task (``workers.celery_app`` routes by this table)
TASK_CLASS: dict[str, WorkClass] = {
    PROFILE_REFIT: WorkClass.REALTIME,
    PROFILE_FOLLOW: WorkClass.REALTIME,
    STAFF_MAP_PUSH: WorkClass.REALTIME,
    SUMMARY_APPLY: WorkClass.REALTIME,
    PROFILES_RECONCILE: WorkClass.MAINTENANCE,
    JOBS_SWEEP: WorkClass.MAINTENANCE,
    DEMO_SESSIONS_EXPIRE: WorkClass.MAINTENANCE,
    WEBHOOK_DELIVER: WorkClass.MAINTENANCE,
    HEARTBEAT: WorkClass.MAINTENANCE,  # sent to every class explicitly; this is only its default
    COMPARE_RUN: WorkClass.INTERACTIVE,
    SCORE_RUN: WorkClass.INTERACTIVE,
    DEMO_PREPARE: WorkClass.INTERACTIVE,
    DEMO_REVEAL: WorkClass.INTERACTIVE,
    POOL_GENERATE: WorkClass.BATCH,
    POOL_CANDIDATE: WorkClass.BATCH,
    RESPONSES_FEATURES: WorkClass.BATCH,
    BANK_REFIT: WorkClass.BATCH,
    PROTOTYPES_REFIT: WorkClass.BATCH,
    PROTOTYPE_SPLIT: WorkClass.BATCH,
    PROTOTYPE_STATS: WorkClass.BATCH,
}


def coalesce_key(task: str, ident: int | str) -> str:
    """The cache key that marks ``task`` for ``ident`` as queued: set (add-if-absent) by the sender, deleted by
    the task when it starts, so a burst of sends while one waits is one task that sees everything before it."""
    return f"coalesce:{task}:{ident}"


# --- Channels groups ---------------------------------------------------------------------------------------------
STAFF_PROTOTYPES_GROUP = "staff.prototypes"


def user_group(user_id: int) -> str:
    """A user's open pages (profile panel, vote page)."""
    return f"user.{user_id}"


def job_group(job_id: str) -> str:
    """The compare page of one generation job."""
    return f"job.{job_id}"


def prompt_group(prompt_id: int) -> str:
    """Pages waiting on a prompt's candidate pool."""
    return f"prompt.{prompt_id}"


def presenter_group(session_id: int) -> str:
    """A demo session's presenter screens."""
    return f"demo.{session_id}"


def room_group(session_id: int) -> str:
    """A demo session's participant phones."""
    return f"demo.{session_id}.room"


# --- messages (Channels ``type`` names map to consumer handlers: "profile.updated" → ``profile_updated``) ----------
class ProfileUpdated(TypedDict, total=False):
    """To ``user_group``: the profile was stored at ``version``; a demo guest's panel comes rendered."""

    type: Literal["profile.updated"]
    user_id: int
    version: int
    #: "refit": the weights (the loop itself); "follow": suggestions, summary and a guest's panel; "prototypes"
    source: Literal["refit", "follow", "prototypes"]
    participant_id: int
    demo_panel: str


class JobDelta(TypedDict):
    """To ``job_group``: more text of one side of a compare job."""

    type: Literal["job.delta"]
    job_id: str
    side: Literal["default", "personal"]
    text: str


class JobDone(TypedDict):
    """To ``job_group``: the job finished (done, failed or cancelled); the page re-reads it."""

    type: Literal["job.done"]
    job_id: str


class JobQueued(TypedDict):
    """To ``job_group``: the job waits; ``ahead`` jobs of its work class are before it."""

    type: Literal["job.queued"]
    job_id: str
    ahead: int


class PoolProgress(TypedDict):
    """To ``prompt_group``: how many of a prompt's candidates are written."""

    type: Literal["pool.progress"]
    prompt_id: int
    done: int
    total: int


class ReviewProgress(TypedDict):
    """To ``STAFF_PROTOTYPES_GROUP`` while a clustering job runs."""

    type: Literal["prototypes.progress"]
    job: Literal["refit", "split"]
    stage: str
    done: int
    total: int


class ReviewChanged(TypedDict):
    """To ``STAFF_PROTOTYPES_GROUP``: ``prototypes.updated`` (list, map and audit) or ``prototypes.map`` (a point
    moved; the consumer coalesces bursts)."""

    type: Literal["prototypes.updated", "prototypes.map"]


class DemoUpdated(TypedDict, total=False):
    """To ``presenter_group``: the room changed; the screen comes rendered when a worker sent it."""

    type: Literal["demo.updated"]
    session_id: int
    version: int
    reason: str
    html: str


class DemoStage(TypedDict):
    """To ``room_group``: the session moved to ``stage``."""

    type: Literal["demo.stage"]
    session_id: int
    stage: str
