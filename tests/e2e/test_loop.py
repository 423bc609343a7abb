"""The whole loop in a real browser: sign up, vote with the keyboard and with clicks, see the pushed profile."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import pool
from webapp.votes.models import Vote

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_up_vote_and_see_the_profile_pushed_live(page, live_asgi, celery_worker_live, shots) -> None:
    pool(prompts=4)
    page.goto(f"{live_asgi}/accounts/signup/")
    page.fill("#id_username", "alice")
    page.fill("#id_password1", "a-long-pass-phrase-42")
    page.fill("#id_password2", "a-long-pass-phrase-42")
    page.click('[data-testid="signup-submit"]')
    page.wait_for_url(f"{live_asgi}/vote/")
    panel = page.locator('[data-testid="profile-panel"]')
    assert panel.get_attribute("data-version") == "0"
    assert page.locator('[data-testid="onboarding"]').is_visible()  # first visit: three example votes
    page.click('[data-testid="onboarding-close"]')

    page.keyboard.press("1")  # keyboard: left is better
    page.wait_for_selector('[data-testid="profile-panel"][data-version="1"]', timeout=20_000)
    assert page.locator('[data-testid="vote-count"]').inner_text() == "1"
    assert page.locator(".weights li").count() == 8

    page.click('[data-testid="vote-tie"]')
    page.wait_for_selector('[data-testid="profile-panel"][data-version="2"]', timeout=20_000)
    page.keyboard.press("2")
    page.wait_for_selector('[data-testid="profile-panel"][data-version="3"]', timeout=20_000)
    assert page.locator('[data-testid="vote-count"]').inner_text() == "3"
    assert list(Vote.objects.order_by("id").values_list("choice", flat=True)) == ["left", "tie", "right"]
    page.screenshot(path=str(shots / "vote-page.png"), full_page=True)


def test_login_then_double_click_counts_once(page, live_asgi, celery_worker_live) -> None:
    from django.contrib.auth import get_user_model

    pool(prompts=2)
    get_user_model().objects.create_user("bob", password="another-long-pass-7")
    page.goto(f"{live_asgi}/accounts/login/")
    page.fill("#id_username", "bob")
    page.fill("#id_password", "another-long-pass-7")
    page.click('[data-testid="login-submit"]')
    page.wait_for_url(f"{live_asgi}/vote/")
    page.click('[data-testid="onboarding-close"]')
    page.dblclick('[data-testid="vote-right"]')
    page.wait_for_selector('[data-testid="profile-panel"][data-version="1"]', timeout=20_000)
    assert Vote.objects.count() == 1
    assert page.locator('[data-testid="vote-count"]').inner_text() == "1"
