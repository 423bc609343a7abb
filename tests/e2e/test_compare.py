"""The side-by-side page with the real packaged SmolLM2 in a real worker: both answers stream in."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import pool, sign_in
from webapp.catalog.models import Prompt
from webapp.generation.models import GenerationJob

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_compare_streams_default_and_personal_answers(page, live_asgi, celery_worker_live) -> None:
    pool(prompts=2)
    sign_in(page, live_asgi)
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
    assert job.first_token_ms is not None and job.pair_id is not None
