"""/me/ as people use it: live updates by push, the chart, download and delete my data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.helpers import pool, sign_in, wait_for_pair_change
from webapp.profiles.models import RewardProfile
from webapp.votes.models import Pair, Vote

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_profile_page_updates_live_when_a_vote_lands_elsewhere(browser, page, live_asgi, celery_worker_live, shots) -> None:
    # two styles per prompt: with three, three random votes can form a cycle (A > B > C > A) whose MAP weights are
    # exactly zero, and then no vote has shaped the profile
    pool(prompts=4, per_prompt=2)
    sign_in(page, live_asgi)
    profile_tab = page.context.new_page()  # the same user, /me/ open in a second tab
    profile_tab.goto(f"{live_asgi}/me/")
    assert profile_tab.locator('[data-testid="profile-panel"]').get_attribute("data-version") == "0"
    pair = page.locator("form.vote-form").get_attribute("data-pair")
    for key in ("1", "1", "2"):
        page.keyboard.press(key)
        pair = wait_for_pair_change(page, pair)
    profile_tab.wait_for_selector('[data-testid="profile-panel"][data-version="3"]', timeout=30_000)
    profile_tab.wait_for_function(
        "() => document.getElementById('weights-chart').dataset.points === '3'", timeout=10_000)
    assert profile_tab.locator('[data-testid="vote-count"]').inner_text() == "3"
    assert profile_tab.locator('[data-testid="prototype-badge"]').is_visible()
    assert profile_tab.locator('[data-testid="shaping-votes"] li').count() >= 1
    profile_tab.screenshot(path=str(shots / "profile-page.png"), full_page=True)


def test_download_and_delete_my_data(page, live_asgi, celery_worker_live) -> None:
    pool(prompts=3)
    user = sign_in(page, live_asgi)
    pair = page.locator("form.vote-form").get_attribute("data-pair")
    page.keyboard.press("1")
    wait_for_pair_change(page, pair)
    page.goto(f"{live_asgi}/me/")
    with page.expect_download() as download:
        page.click('[data-testid="download-data"]')
    data = json.loads(Path(download.value.path()).read_text())
    assert data["user"] == user.username and len(data["votes"]) == 1 and data["votes"][0]["choice"] == "left"

    page.click('[data-testid="delete-data"]')  # refused without the confirmation box (required field)
    assert Vote.objects.filter(user=user).count() == 1
    page.check('[data-testid="delete-confirm"]')
    page.click('[data-testid="delete-data"]')
    page.wait_for_selector("text=Deleted your 1 votes")
    assert not Vote.objects.filter(user=user).exists() and not Pair.objects.filter(user=user).exists()
    page.wait_for_function("() => document.querySelector('[data-testid=\"vote-count\"]').innerText === '0'")
    profile = RewardProfile.objects.filter(user=user).first()
    assert profile is None or profile.vote_count == 0
    # the worker refits the emptied profile onto the population's starting point: shown as that, not as their taste
    for _ in range(100):
        profile = RewardProfile.objects.filter(user=user).first()
        if profile is not None and profile.summary:
            break
        page.wait_for_timeout(200)
    page.reload()
    text = page.locator("main").inner_text()
    assert "You prefer" not in text
    assert "People start here" in page.locator('[data-testid="summary-text"]').inner_text()
    assert "People start here" in page.locator('[data-testid="profile-panel"]').inner_text()


def test_delete_my_account_asks_then_really_deletes_it(page, live_asgi, broker_clean) -> None:
    from django.contrib.auth import get_user_model

    pool(prompts=2)
    user = sign_in(page, live_asgi)
    pair = page.locator("form.vote-form").get_attribute("data-pair")
    page.keyboard.press("1")
    wait_for_pair_change(page, pair)
    page.goto(f"{live_asgi}/me/")
    page.click('[data-testid="delete-account"]')  # refused without its own confirmation box
    assert get_user_model().objects.filter(pk=user.pk).exists()
    page.check('[data-testid="delete-account-confirm"]')
    page.click('[data-testid="delete-account"]')
    page.wait_for_selector("text=Your account and everything in it are deleted")
    assert not get_user_model().objects.filter(pk=user.pk).exists()
    assert not Vote.objects.filter(user_id=user.pk).exists() and not Pair.objects.filter(user_id=user.pk).exists()
    page.goto(f"{live_asgi}/me/")  # signed out
    assert "/accounts/login/" in page.url
    page.fill("#id_username", user.username)
    page.fill("#id_password", "correct-horse-battery")
    page.click('[data-testid="login-submit"]')
    assert "/accounts/login/" in page.url  # the account is gone, not just logged out
