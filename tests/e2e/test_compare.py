"""The side-by-side page with the real packaged SmolLM2 in a real worker: both answers stream in."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import wait_until
from tests.e2e.helpers import pool, sign_in
from webapp.catalog.models import Prompt
from webapp.generation.models import GenerationJob
from webapp.profiles.models import RewardProfile
from webapp.votes import selectors, services

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_compare_streams_default_and_personal_answers(page, live_asgi, celery_worker_live) -> None:
    pool(prompts=3)
    user = sign_in(page, live_asgi)
    for _ in range(3):  # a profile to personalize for: prefers the short answers
        pair = selectors.pair_next(user=user)
        short = "left" if len(pair.left.text) < len(pair.right.text) else "right"
        services.vote_record(user=user, pair_id=pair.pk, idempotency_key=uuid.uuid4(), choice=short, strength=3)
    # the worker refits after each vote
    assert wait_until(lambda: RewardProfile.objects.filter(user=user, vote_count=3).exclude(summary="").exists(),
                      timeout=60)
    prompt = Prompt.objects.first()
    page.goto(f"{live_asgi}/compare/{prompt.pk}/")
    page.check('[data-testid="method-summary"]')
    page.click('[data-testid="compare-start"]')
    default = page.locator('[data-testid="compare-default"]')
    personal = page.locator('[data-testid="compare-personal"]')
    default.wait_for()
    page.wait_for_function("() => document.querySelector('[data-testid=compare-default]').innerText.length > 0",
                           timeout=120_000)  # the first tokens arrive before the job is done
    assert GenerationJob.objects.get().status in ("running", "done")
    page.wait_for_selector('#compare-result[data-status="done"]', timeout=240_000)
    job = GenerationJob.objects.get()
    assert default.inner_text().strip() and personal.inner_text().strip()
    assert default.inner_text().strip() == job.default_text
    assert job.summary_used and job.first_token_ms is not None
    assert job.pair_id is not None  # the two answers differ and became a pair the user can vote on
