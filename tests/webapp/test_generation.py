from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from tests.conftest import ws_communicator
from tests.factories import PromptFactory, UserFactory
from webapp.generation.models import GenerationJob
from webapp.generation.services import GenerationRejected, compare_start, prompt_from_user


async def _socket(user, job_id) -> WebsocketCommunicator:
    return await ws_communicator(user, f"/ws/jobs/{job_id}/")


@pytest.mark.django_db(transaction=True)
async def test_a_user_only_receives_their_own_stream(broker_clean) -> None:
    alice, bob = await sync_to_async(UserFactory)(), await sync_to_async(UserFactory)()
    prompt = await sync_to_async(PromptFactory)()
    job = await sync_to_async(compare_start)(user=alice, prompt=prompt, method="summary")
    intruder = await _socket(bob, job.pk)
    connected, code = await intruder.connect(timeout=10)
    assert not connected and code == 4403  # bob cannot listen to alice's job
    owner = await _socket(alice, job.pk)
    assert (await owner.connect(timeout=10))[0]
    await get_channel_layer().group_send(
        f"job.{job.pk}", {"type": "job.delta", "job_id": str(job.pk), "side": "personal", "text": "<b>Hi</b>"}
    )
    frame = await owner.receive_from(timeout=5)
    assert 'hx-swap-oob="beforeend:#compare-personal-text"' in frame and "&lt;b&gt;Hi&lt;/b&gt;" in frame
    await owner.disconnect()
    refreshed = await sync_to_async(GenerationJob.objects.get)(pk=job.pk)
    assert refreshed.dispatched_at is not None  # sent to a worker once its listener connected


@pytest.mark.django_db
def test_prompts_typed_by_users_are_length_limited_and_reused() -> None:
    with pytest.raises(GenerationRejected, match="limited"):
        prompt_from_user(text="x" * 501)
    with pytest.raises(GenerationRejected):
        prompt_from_user(text="   ")
    assert prompt_from_user(text="Hello  there").pk == prompt_from_user(text="Hello there").pk


@pytest.mark.django_db
def test_unknown_method_and_too_many_running_jobs_are_refused() -> None:
    user, prompt = UserFactory(), PromptFactory()
    with pytest.raises(GenerationRejected, match="unknown method"):
        compare_start(user=user, prompt=prompt, method="magic")
    for _ in range(3):
        compare_start(user=user, prompt=prompt, method="summary")
    with pytest.raises(GenerationRejected, match="3 answers"):
        compare_start(user=user, prompt=prompt, method="summary")


@pytest.mark.django_db
def test_compare_page_serves_page_and_fragment(client) -> None:
    client.force_login(UserFactory())
    prompt = PromptFactory()
    assert client.get(f"/compare/{prompt.pk}/").status_code == 200
    response = client.post(f"/compare/{prompt.pk}/", {"method": "guided"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and 'data-testid="compare-default"' in html and "<html" not in html
    assert client.post("/compare/custom/", {"text": "y" * 600}).status_code == 400


@pytest.mark.django_db(transaction=True)
async def test_pool_progress_is_pushed_to_watchers_of_the_prompt() -> None:
    user = await sync_to_async(UserFactory)()
    prompt = await sync_to_async(PromptFactory)()
    watcher = await ws_communicator(user, f"/ws/prompts/{prompt.pk}/")
    assert (await watcher.connect(timeout=10))[0]
    await get_channel_layer().group_send(
        f"prompt.{prompt.pk}", {"type": "pool.progress", "prompt_id": prompt.pk, "done": 3, "total": 8}
    )
    frame = await watcher.receive_from(timeout=5)
    assert 'id="pool-progress"' in frame and 'data-done="3"' in frame and 'hx-swap-oob="true"' in frame
    await watcher.disconnect()


@pytest.mark.django_db
def test_a_new_typed_prompt_gets_a_candidate_pool_once(django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks() as first:
        prompt_from_user(text="How do I fold a fitted sheet?")
    with django_capture_on_commit_callbacks() as again:
        prompt_from_user(text="How do I fold a fitted sheet?")
    assert len(first) == 1 and len(again) == 0


def test_pool_size_matches_the_style_library() -> None:
    import json

    from django.conf import settings

    from webapp.generation.services import POOL_STYLES

    styles = json.loads((settings.TAILOR_DEMO_DIR / "prompts.json").read_text())["styles"]
    assert len(styles) == POOL_STYLES


@pytest.mark.django_db(transaction=True)
async def test_a_script_streams_its_job_with_an_api_token_and_no_origin(broker_clean) -> None:
    from rest_framework.authtoken.models import Token

    from webapp.asgi import application

    alice, bob = await sync_to_async(UserFactory)(), await sync_to_async(UserFactory)()
    prompt = await sync_to_async(PromptFactory)()
    job = await sync_to_async(compare_start)(user=alice, prompt=prompt, method="summary")
    alice_key = (await sync_to_async(Token.objects.create)(user=alice)).key
    bob_key = (await sync_to_async(Token.objects.create)(user=bob)).key

    def script(headers: list[tuple[bytes, bytes]]) -> WebsocketCommunicator:
        return WebsocketCommunicator(
            application, f"/ws/jobs/{job.pk}/", headers=[(b"host", b"127.0.0.1"), *headers]
        )

    for headers in (
        [],
        [(b"authorization", f"Token {bob_key}".encode())],
        [(b"authorization", b"Token wrong")],
    ):
        refused = script(headers)
        connected, _ = await refused.connect(timeout=10)
        assert not connected  # no origin and no token, someone else's token, or a wrong one
    owner = script([(b"authorization", f"Token {alice_key}".encode())])
    assert (await owner.connect(timeout=10))[0]
    await get_channel_layer().group_send(
        f"job.{job.pk}", {"type": "job.delta", "job_id": str(job.pk), "side": "default", "text": "Hello"}
    )
    assert "Hello" in await owner.receive_from(timeout=5)
    await owner.disconnect()


@pytest.mark.django_db
def test_jobs_lost_with_a_restarted_worker_never_lock_their_user_out() -> None:
    """Three queued jobs whose messages died with Redis used to answer "3 answers being written" for good."""
    from datetime import timedelta

    from django.utils import timezone

    user, prompt = UserFactory(), PromptFactory()
    for status in ("queued", "queued", "running"):
        GenerationJob.objects.create(
            user=user,
            prompt=prompt,
            status=status,
            attempts=1,
            heartbeat_at=timezone.now() - timedelta(minutes=10),
        )
    job = compare_start(user=user, prompt=prompt, method="summary")
    assert job.status == "queued"
    compare_start(user=user, prompt=prompt, method="summary")
    compare_start(user=user, prompt=prompt, method="summary")
    with pytest.raises(GenerationRejected, match="3 answers"):  # the live ones still count
        compare_start(user=user, prompt=prompt, method="summary")


@pytest.mark.django_db(transaction=True)
async def test_closing_the_page_cancels_its_queued_job_and_a_worker_then_skips_it(broker_clean) -> None:
    from workers.compare import compare_run_job

    user, prompt = await sync_to_async(UserFactory)(), await sync_to_async(PromptFactory)()
    job = await sync_to_async(compare_start)(user=user, prompt=prompt, method="summary")
    page = await _socket(user, job.pk)
    assert (await page.connect(timeout=10))[0]
    await page.disconnect()
    refreshed = await sync_to_async(GenerationJob.objects.get)(pk=job.pk)
    assert refreshed.status == GenerationJob.Status.CANCELLED and refreshed.finished_at is not None
    assert await sync_to_async(compare_run_job)(job_id=str(job.pk)) is None  # skipped, never claimed
    assert (
        await sync_to_async(GenerationJob.objects.get)(pk=job.pk)
    ).status == GenerationJob.Status.CANCELLED


@pytest.mark.django_db
def test_the_cancel_button_stops_only_the_users_own_unfinished_job(client) -> None:
    owner, other, prompt = UserFactory(), UserFactory(), PromptFactory()
    job = compare_start(user=owner, prompt=prompt, method="summary")
    client.force_login(other)
    assert client.post(f"/compare/jobs/{job.pk}/cancel/").status_code == 404
    client.force_login(owner)
    response = client.post(f"/compare/jobs/{job.pk}/cancel/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and b'data-testid="compare-cancelled"' in response.content
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.CANCELLED
    compare_start(
        user=owner, prompt=prompt, method="summary"
    )  # a cancelled job no longer counts to the limit


@pytest.mark.django_db(transaction=True)
async def test_a_waiting_page_hears_how_many_jobs_are_ahead_of_it(broker_clean) -> None:
    first, second = await sync_to_async(UserFactory)(), await sync_to_async(UserFactory)()
    prompt = await sync_to_async(PromptFactory)()
    jobs = [
        await sync_to_async(compare_start)(user=u, prompt=prompt, method="summary") for u in (first, second)
    ]
    pages = [await _socket(u, j.pk) for u, j in zip((first, second), jobs, strict=True)]
    assert (await pages[0].connect(timeout=10))[0]
    assert "yours is next" in await pages[0].receive_from(timeout=5)
    assert (await pages[1].connect(timeout=10))[0]
    assert "1 job ahead of yours" in await pages[1].receive_from(timeout=5)
    await pages[0].disconnect()  # the first page closes: its job is cancelled, the second moves up
    assert "yours is next" in await pages[1].receive_from(timeout=5)
    await pages[1].disconnect()
