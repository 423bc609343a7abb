"""Closing a demo room as the phones see it: at once, without a reload, and only after the presenter confirms."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import PASSWORD
from tests.factories import UserFactory
from tests.webapp.demos.factories_demo import scored_pool
from tests.webapp.demos.factories_demo import session as demo_session
from webapp.demos.models import DemoSession

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_closing_the_room_reaches_the_phone_at_once_after_a_confirmation(browser, live_asgi, broker_clean) -> None:
    scored_pool(prompts=2)
    host = UserFactory(username="host", is_staff=True)
    demo = demo_session(presenter=host, name="Friday meetup")
    contexts = [browser.new_context(viewport={"width": 1200, "height": 900}),
                browser.new_context(viewport={"width": 390, "height": 844})]
    try:
        presenter, phone = (context.new_page() for context in contexts)
        presenter.goto(f"{live_asgi}/accounts/login/?next=/demo/{demo.code}/present/")
        presenter.fill("#id_username", "host")
        presenter.fill("#id_password", PASSWORD)
        presenter.click('[data-testid="login-submit"]')
        presenter.wait_for_url(f"{live_asgi}/demo/{demo.code}/present/")
        phone.goto(f"{live_asgi}/demo/join/?code={demo.code}")
        phone.fill('[data-testid="join-name-input"]', "Ada")
        phone.click('[data-testid="join-submit"]')
        phone.wait_for_selector('[data-testid="lobby"]')
        presenter.wait_for_selector('[data-testid="participant-count"]:text-is("1")', timeout=15_000)
        for stage in ("voting", "reveal"):
            presenter.click('[data-testid="stage-advance"]')
            presenter.wait_for_selector(f'[data-testid="stage"]:text-is("{stage}")', timeout=15_000)
            phone.wait_for_selector(f'[data-testid="stage"]:text-is("{stage}")', timeout=15_000)

        asked: list[str] = []

        def answer(dialog, accept: bool) -> None:
            asked.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()

        presenter.once("dialog", lambda d: answer(d, False))  # second thoughts: nothing happens
        presenter.click('[data-testid="stage-advance"]')
        presenter.wait_for_timeout(500)
        assert asked and "close" in asked[0].lower()
        demo.refresh_from_db()
        assert demo.stage == DemoSession.Stage.REVEAL

        presenter.once("dialog", lambda d: answer(d, True))
        presenter.click('[data-testid="stage-advance"]')
        presenter.wait_for_selector('[data-testid="stage"]:text-is("closed")', timeout=15_000)
        phone.wait_for_selector('[data-testid="stage"]:text-is("closed")', timeout=5_000)  # no reload
        assert "ended" in phone.locator("#demo-body").inner_text()
        assert phone.locator("form.vote-form").count() == 0
        phone.reload()
        assert phone.locator('[data-testid="stage"]').inner_text() == "closed"
    finally:
        for context in contexts:
            context.close()
