"""The job sweeper on the real broker: lost work is re-sent and then runs, work lost every time fails with a message
the user reads, and work only waiting its turn is left alone."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.utils import timezone

from tests.conftest import wait_until, ws_communicator
from tests.factories import PromptFactory, ResponseFactory, UserFactory
from tests.webapp.demos.factories_demo import presenter as demo_presenter
from tests.webapp.demos.factories_demo import scored_pool
from webapp.api.models import ApiJob
from webapp.api.services import score_start
from webapp.demos import services as demo_services
from webapp.demos.models import DemoSession
from webapp.generation.models import GenerationJob
from webapp.votes import services as vote_services
from webapp.webhooks.models import WebhookDelivery, WebhookEndpoint
from webapp.webhooks.services import retry_ceiling
from workers import contracts
from workers.broker_scan import live_tasks
from workers.celery_app import app
from workers.job_heartbeat import job_heartbeat
from workers.refit import profile_refit_run
from workers.sweeper import LOST_ANSWER, LOST_JOB, LOST_REVEAL, jobs_sweep_run

pytestmark = pytest.mark.django_db(transaction=True)

LONG_AGO = timedelta(minutes=10)


@pytest.fixture(autouse=True)
def _clean(broker_clean: None) -> None:
    cache.clear()  # the sweeper's re-send marks for rowless work


def _brevity_lover() -> object:
    """A user with a fitted profile (a score job needs one; it computes from the named axes, no model load)."""
    user = UserFactory()
    for _ in range(4):
        prompt = PromptFactory()
        short = ResponseFactory(prompt=prompt, axis_scores=[0.9, *([0.5] * 7)])
        long = ResponseFactory(prompt=prompt, axis_scores=[0.1, *([0.5] * 7)])
        pair = vote_services.pair_create(user=user, left=short, right=long, source="random")
        vote_services.vote_record(user=user, pair_id=pair.pk, idempotency_key=uuid.uuid4(), choice="left")
    profile_refit_run(user_id=user.pk)
    return user


def _age(model: type, pk: object, **fields: object) -> None:
    model.objects.filter(pk=pk).update(heartbeat_at=timezone.now() - LONG_AGO, **fields)


def _broker_has(name: str, **kwargs: object) -> bool:
    live = live_tasks()
    assert live is not None
    return live.has(name, **kwargs)


def test_a_redis_restart_loses_the_queued_job_and_the_sweeper_runs_it() -> None:
    """What a Redis restart without persistence does: the message is gone, the row still says queued."""
    from celery.contrib.testing.worker import start_worker

    from workers.celery_app import ALL_QUEUES

    user = _brevity_lover()
    job = score_start(user=user, prompt="What is the capital of France?", answers=["Paris.", "It is Paris."])
    assert _broker_has(contracts.SCORE_RUN, job_id=str(job.pk))
    _age(ApiJob, job.pk)
    assert jobs_sweep_run() == {}  # only waiting its turn: left alone, and seen alive
    assert ApiJob.objects.get(pk=job.pk).heartbeat_at > timezone.now() - timedelta(seconds=30)

    app.control.purge()  # the restart
    _age(ApiJob, job.pk)
    assert jobs_sweep_run() == {"api_resent": 1}
    with start_worker(app, pool="solo", perform_ping_check=False, queues=ALL_QUEUES, loglevel="WARNING"):
        assert wait_until(lambda: ApiJob.objects.get(pk=job.pk).status == "done", timeout=30)
    job.refresh_from_db()
    assert job.attempts == 2 and len(job.result["scores"]) == 2
    assert jobs_sweep_run() == {}  # done: nothing left to sweep


def test_a_running_job_whose_worker_died_is_run_again(celery_worker_live) -> None:
    user = _brevity_lover()
    job = ApiJob.objects.create(
        user=user,
        kind=ApiJob.Kind.SCORE,
        total=1,
        attempts=1,
        status="running",
        params={"prompt": "Hi?", "answers": ["Hello."]},
    )
    _age(ApiJob, job.pk)  # its worker stopped touching it: killed, or the broker restarted under it
    assert jobs_sweep_run() == {"api_resent": 1}
    assert wait_until(lambda: ApiJob.objects.get(pk=job.pk).status == "done", timeout=30)
    assert ApiJob.objects.get(pk=job.pk).attempts == 2


def test_a_job_lost_on_every_attempt_fails_with_a_message() -> None:
    user = UserFactory()
    job = ApiJob.objects.create(user=user, kind=ApiJob.Kind.FEATURES, total=1, attempts=3, status="running")
    _age(ApiJob, job.pk)
    assert jobs_sweep_run() == {"api_failed": 1}
    job.refresh_from_db()
    assert job.status == "failed" and job.error == LOST_JOB and job.finished_at is not None
    assert not _broker_has(contracts.RESPONSES_FEATURES)


def test_a_running_generation_job_whose_heartbeat_stopped_is_sent_again() -> None:
    user, prompt = UserFactory(), PromptFactory()
    job = GenerationJob.objects.create(
        user=user, prompt=prompt, status="running", attempts=1, dispatched_at=timezone.now()
    )
    _age(GenerationJob, job.pk)
    assert jobs_sweep_run() == {"generation_resent": 1}
    job.refresh_from_db()
    assert job.status == "queued" and job.attempts == 2
    assert _broker_has(contracts.COMPARE_RUN, job_id=str(job.pk))
    assert jobs_sweep_run() == {}  # a second sweep does not send it twice


def test_a_job_whose_page_never_connected_is_sent_by_the_sweeper() -> None:
    user, prompt = UserFactory(), PromptFactory()
    job = GenerationJob.objects.create(user=user, prompt=prompt)
    _age(GenerationJob, job.pk)
    assert jobs_sweep_run() == {"generation_resent": 1}
    job.refresh_from_db()
    assert job.dispatched_at is not None and job.attempts == 1
    assert _broker_has(contracts.COMPARE_RUN, job_id=str(job.pk))


async def test_the_compare_page_shows_the_message_when_the_sweeper_gives_up() -> None:
    user = await sync_to_async(UserFactory)()
    prompt = await sync_to_async(PromptFactory)()
    job = await sync_to_async(GenerationJob.objects.create)(
        user=user, prompt=prompt, attempts=3, dispatched_at=timezone.now()
    )
    await sync_to_async(_age)(GenerationJob, job.pk)
    page = await ws_communicator(user, f"/ws/jobs/{job.pk}/")
    assert (await page.connect(timeout=10))[0]
    assert await sync_to_async(jobs_sweep_run)() == {"generation_failed": 1}
    frame = await page.receive_from(timeout=10)
    assert 'data-status="failed"' in frame and LOST_ANSWER in frame
    await page.disconnect()


def test_the_heartbeat_is_touched_while_the_job_runs_and_stops_with_it() -> None:
    job = ApiJob.objects.create(user=UserFactory(), kind=ApiJob.Kind.SCORE, status="running")
    _age(ApiJob, job.pk)
    with job_heartbeat(ApiJob, job.pk, every=0.05):
        assert wait_until(
            lambda: ApiJob.objects.get(pk=job.pk).heartbeat_at > timezone.now() - timedelta(seconds=5),
            timeout=5,
        )
    last = ApiJob.objects.get(pk=job.pk).heartbeat_at
    time.sleep(0.2)
    assert ApiJob.objects.get(pk=job.pk).heartbeat_at == last


def test_an_overdue_webhook_delivery_is_sent_again_and_attempted(celery_worker_live) -> None:
    endpoint = WebhookEndpoint.objects.create(url="http://127.0.0.1:9/hook", events=["vote.created"])
    now = timezone.now()
    overdue = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event="vote.created",
        body="{}",
        attempts=1,
        last_attempt_at=now - timedelta(seconds=retry_ceiling(1) + 120),
    )
    waiting = WebhookDelivery.objects.create(
        endpoint=endpoint, event="vote.created", body="{}", attempts=1, last_attempt_at=now
    )  # its retry is not due yet
    WebhookDelivery.objects.filter(pk__in=[overdue.pk, waiting.pk]).update(created_at=now - LONG_AGO)
    assert jobs_sweep_run() == {"webhooks_resent": 1}
    assert wait_until(lambda: WebhookDelivery.objects.get(pk=overdue.pk).attempts == 2, timeout=30)
    assert WebhookDelivery.objects.get(pk=waiting.pk).attempts == 1


def _room_prompts() -> list[int]:
    from webapp.catalog.models import Prompt

    return list(
        Prompt.objects.filter(text__startswith="How do I water a cactus").values_list("pk", flat=True)
    ) or scored_pool(1)


def _revealing_session(**reveal: object) -> DemoSession:
    session = demo_services.session_create(
        presenter=demo_presenter(), name="Meetup", prompt_ids=_room_prompts()
    )
    DemoSession.objects.filter(pk=session.pk).update(
        stage=DemoSession.Stage.REVEAL,
        stage_changed_at=timezone.now() - LONG_AGO,
        reveal={"status": "pending", "answers": [], **reveal},
    )
    return DemoSession.objects.get(pk=session.pk)


def test_a_pending_reveal_with_no_task_is_sent_again_then_failed() -> None:
    session = _revealing_session()
    app.control.purge()  # the session's demo_prepare
    assert jobs_sweep_run() == {"reveals_resent": 1}
    assert _broker_has(contracts.DEMO_REVEAL, session_id=session.pk)
    assert DemoSession.objects.get(pk=session.pk).reveal["attempts"] == 2
    assert jobs_sweep_run() == {}  # its message waits in the broker

    given_up = _revealing_session(attempts=3)
    app.control.purge()
    DemoSession.objects.filter(pk=session.pk).update(reveal={"status": "done", "answers": []})
    assert jobs_sweep_run() == {"reveals_failed": 1}
    reveal = DemoSession.objects.get(pk=given_up.pk).reveal
    assert reveal["status"] == "failed" and reveal["error"] == LOST_REVEAL


def test_a_reveal_written_after_the_session_closed_reaches_its_export() -> None:
    session = _revealing_session()
    demo_services.session_stage_advance(session_id=session.pk, user=session.presenter, to_stage="closed")
    assert DemoSession.objects.get(pk=session.pk).export["reveal"]["status"] == "pending"
    demo_services.session_reveal_store(
        session_id=session.pk, reveal={"status": "done", "answers": [{"text": "x"}]}
    )
    export = DemoSession.objects.get(pk=session.pk).export
    assert export["reveal"]["status"] == "done" and export["reveal"]["answers"] == [{"text": "x"}]
    assert "participants" in export  # the rest of the export is kept


def test_a_missing_default_answer_is_prepared_again_once() -> None:
    session = demo_services.session_create(
        presenter=demo_presenter(), name="Meetup", prompt_ids=_room_prompts()
    )
    assert session.showcase_prompt_id is not None
    assert _broker_has(contracts.DEMO_PREPARE, session_id=session.pk)
    DemoSession.objects.filter(pk=session.pk).update(created_at=timezone.now() - LONG_AGO)
    assert jobs_sweep_run() == {}  # its prepare still waits
    app.control.purge()
    assert jobs_sweep_run() == {"prepares_resent": 1}
    assert _broker_has(contracts.DEMO_PREPARE, session_id=session.pk)
    app.control.purge()
    assert jobs_sweep_run() == {}  # at most once per JOBS_DEMO_STALE_SECONDS


def test_an_incomplete_candidate_pool_with_no_task_is_sent_again() -> None:
    from webapp.catalog.models import Prompt, Response

    stuck = PromptFactory(source=Prompt.Source.USER)
    growing = PromptFactory(source=Prompt.Source.USER)
    for prompt in (stuck, growing):
        for style in ("concise", "detailed", "default", "personal:summary"):
            ResponseFactory(prompt=prompt, style=style)
    Prompt.objects.filter(pk__in=[stuck.pk, growing.pk]).update(created_at=timezone.now() - LONG_AGO)
    Response.objects.filter(prompt=stuck).update(created_at=timezone.now() - LONG_AGO)  # stopped at 2/8
    complete = PromptFactory(source=Prompt.Source.USER)
    for i in range(8):
        ResponseFactory(prompt=complete, style=f"style{i}")
    Prompt.objects.filter(pk=complete.pk).update(created_at=timezone.now() - LONG_AGO)
    Response.objects.filter(prompt=complete).update(created_at=timezone.now() - LONG_AGO)

    assert jobs_sweep_run() == {"pools_resent": 1}
    assert _broker_has(contracts.POOL_GENERATE, prompt_id=stuck.pk)
    assert not _broker_has(contracts.POOL_GENERATE, prompt_id=growing.pk)
    assert jobs_sweep_run() == {}  # its message waits in the broker


def test_beat_runs_the_sweeper_on_the_maintenance_queue() -> None:
    from django.conf import settings

    app.loader.import_default_modules()
    entries = [e for e in app.conf.beat_schedule.values() if e["task"] == contracts.JOBS_SWEEP]
    assert len(entries) == 1 and entries[0]["schedule"] == settings.JOBS_SWEEP_INTERVAL_SECONDS
    assert app.amqp.router.route({}, contracts.JOBS_SWEEP)["queue"].name == "maintenance"


async def test_the_compare_page_is_cleared_when_a_lost_running_job_is_written_again() -> None:
    user = await sync_to_async(UserFactory)()
    prompt = await sync_to_async(PromptFactory)()
    job = await sync_to_async(GenerationJob.objects.create)(
        user=user, prompt=prompt, status="running", attempts=1, dispatched_at=timezone.now()
    )
    await sync_to_async(_age)(GenerationJob, job.pk)
    page = await ws_communicator(user, f"/ws/jobs/{job.pk}/")
    assert (await page.connect(timeout=10))[0]
    assert await sync_to_async(jobs_sweep_run)() == {"generation_resent": 1}
    frame = await page.receive_from(timeout=10)
    assert 'data-testid="compare-rewriting"' in frame  # half-streamed text gives way to the new run's
    assert 'id="compare-personal-text"' in frame and 'hx-swap-oob="true"' in frame
    await page.disconnect()
