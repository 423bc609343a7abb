"""A live demo in real browsers: one presenter and three participants in separate browser contexts, all live over
websockets with a real Celery worker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.helpers import PASSWORD
from tests.factories import ResponseFactory, UserFactory
from tests.webapp.demos.factories_demo import scored_pool
from webapp.demos.models import DemoSession

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DEFAULT = "Water it when the soil is dry."


def _map_version(page) -> int:
    return int(page.locator('[data-testid="prototype-map"]').get_attribute("data-version"))


def test_presenter_and_three_participants(browser, live_asgi, celery_worker_live, shots) -> None:
    ids = scored_pool(prompts=3)
    ResponseFactory(prompt_id=ids[0], text=DEFAULT, style="default", axis_scores=[0.5] * 8)
    UserFactory(username="host", is_staff=True)
    contexts = [browser.new_context(viewport={"width": 1200, "height": 900})]
    contexts += [browser.new_context(viewport={"width": 390, "height": 844}) for _ in range(3)]  # phones
    try:
        presenter, *phones = (context.new_page() for context in contexts)
        presenter.goto(f"{live_asgi}/accounts/login/?next=/demo/new/")
        presenter.fill("#id_username", "host")
        presenter.fill("#id_password", PASSWORD)
        presenter.click('[data-testid="login-submit"]')
        presenter.wait_for_url(f"{live_asgi}/demo/new/")
        presenter.fill("#id_name", "Friday meetup")
        presenter.click('[data-testid="demo-create"]')
        presenter.wait_for_url("**/present/")
        code = presenter.locator('[data-testid="join-code"]').inner_text()
        assert code == DemoSession.objects.get().code
        assert presenter.locator('[data-testid="join-qr"] svg').count() == 1
        assert presenter.locator('[data-testid="stage"]').inner_text() == "lobby"

        for phone, name in zip(phones, ["Ada", "Bob", "Cy"], strict=True):
            phone.goto(f"{live_asgi}/demo/join/?code={code}")  # where the QR code points
            phone.fill('[data-testid="join-name-input"]', name)
            phone.click('[data-testid="join-submit"]')
            phone.wait_for_url(f"{live_asgi}/demo/{code}/")
            phone.wait_for_selector('[data-testid="lobby"]')
            assert phone.locator("form.vote-form").count() == 1  # joining leads straight to the vote hooks
        presenter.wait_for_selector('[data-testid="participant-count"]:text-is("3")', timeout=15_000)

        presenter.click('[data-testid="stage-advance"]')  # start voting
        presenter.wait_for_selector('[data-testid="stage"]:text-is("voting")')
        before = _map_version(presenter)
        for phone in phones:  # each phone's page was told over its socket: voting opens in place, no reload
            phone.wait_for_selector('[data-testid="stage"]:text-is("voting")', timeout=15_000)
            phone.wait_for_selector('[data-testid="lobby"]', state="detached", timeout=15_000)
            phone.wait_for_selector("form.vote-form", timeout=15_000)
        for i, phone in enumerate(phones):
            for choice in ("vote-left", "vote-right" if i % 2 else "vote-left"):
                pair = phone.locator("form.vote-form").get_attribute("data-pair")
                phone.click(f'[data-testid="{choice}"]')
                phone.wait_for_function(
                    "prev => { const f = document.querySelector('form.vote-form'); return f && f.dataset.pair !== prev; }",
                    arg=pair, timeout=15_000)
        # the worker refits each participant and pushes the room: every dot on the map, a higher version
        presenter.wait_for_selector('[data-testid="prototype-map"][data-points="3"]', timeout=60_000)
        presenter.wait_for_function(
            "() => document.querySelector('[data-testid=\"vote-total\"]').innerText === '6'", timeout=60_000)
        assert _map_version(presenter) > before
        for phone in phones:  # each participant's own answer to the showcase prompt, pushed after their refit
            phone.wait_for_function(
                "() => !document.querySelector('[data-testid=\"showcase-answer\"] .muted')", timeout=30_000)
            phone.wait_for_function(  # and their own profile panel, refitted on both votes
                "() => document.querySelector('[data-testid=\"vote-count\"]').innerText === '2'", timeout=30_000)
        phones[0].screenshot(path=str(shots / "demo-phone-voting.png"), full_page=True)

        presenter.click('[data-testid="stage-advance"]')  # reveal
        presenter.wait_for_selector('[data-testid="stage"]:text-is("reveal")')
        presenter.wait_for_selector('[data-testid="reveal-answers"]', timeout=60_000)
        assert presenter.locator('[data-testid="reveal-default"]').inner_text().endswith(DEFAULT)
        answers = presenter.locator('[data-testid="reveal-personalized"]')
        assert answers.count() == 3
        assert all(answers.nth(i).locator(".body").inner_text().strip() for i in range(3))
        presenter.screenshot(path=str(shots / "demo-presenter.png"), full_page=True)
        phones[0].wait_for_selector('[data-testid="reveal"] [data-testid="reveal-answers"]', timeout=15_000)
        phones[0].screenshot(path=str(shots / "demo-participant.png"), full_page=True)

        presenter.once("dialog", lambda dialog: dialog.accept())  # closing asks first
        presenter.click('[data-testid="stage-advance"]')  # close
        presenter.wait_for_selector('[data-testid="stage"]:text-is("closed")')
        with presenter.expect_download() as download:
            presenter.click('[data-testid="demo-export"]')
        data = json.loads(Path(download.value.path()).read_text())
        assert sorted(p["display_name"] for p in data["participants"]) == ["Ada", "Bob", "Cy"]
        assert len(data["votes"]) == 6 and len(data["profiles"]) == 3
    finally:
        for context in contexts:
            context.close()
