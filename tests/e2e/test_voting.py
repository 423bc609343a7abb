"""/vote/ as people use it: keyboard only, distinct tie and both-bad, skip and undo, safe answers, phones,
dark mode."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import pool, sign_in, wait_for_pair_change
from tests.factories import PromptFactory, ResponseFactory
from webapp.votes.models import Pair, Vote

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_keyboard_only_voting_of_ten_pairs(page, live_asgi) -> None:
    pool(prompts=6)
    user = sign_in(page, live_asgi)
    keys = ["1", "2", "0", "b", "1", "2", "1", "2", "0", "1"]
    pair = page.locator("form.vote-form").get_attribute("data-pair")
    for key in keys:
        page.keyboard.press(key)
        pair = wait_for_pair_change(page, pair)
    choices = list(Vote.objects.filter(user=user).order_by("id").values_list("choice", flat=True))
    expected = {"1": "left", "2": "right", "0": "tie", "b": "both_bad"}
    assert choices == [expected[k] for k in keys]
    assert Vote.objects.filter(user=user, time_to_vote_ms__isnull=False).count() == 10
    assert page.locator('[data-testid="votes-today"]').inner_text() == "10"


def test_tie_and_both_bad_are_stored_distinctly(page, live_asgi) -> None:
    pool(prompts=3)
    user = sign_in(page, live_asgi)
    pair = page.locator("form.vote-form").get_attribute("data-pair")
    page.click('[data-testid="vote-tie"]')
    pair = wait_for_pair_change(page, pair)
    page.click('[data-testid="vote-both-bad"]')
    wait_for_pair_change(page, pair)
    assert list(Vote.objects.filter(user=user).order_by("id").values_list("choice", flat=True)) == ["tie", "both_bad"]


def test_skip_and_undo(page, live_asgi) -> None:
    pool(prompts=4)
    user = sign_in(page, live_asgi)
    first = page.locator("form.vote-form").get_attribute("data-pair")
    page.keyboard.press("s")
    second = wait_for_pair_change(page, first)
    assert Pair.objects.get(pk=first).skipped_at is not None
    page.keyboard.press("1")
    wait_for_pair_change(page, second)
    assert Vote.objects.filter(user=user).count() == 1
    page.click('[data-testid="vote-undo"]')
    page.wait_for_function("p => document.querySelector('form.vote-form').dataset.pair === p", arg=second)
    assert Vote.objects.filter(user=user).count() == 0  # the pair is back, waiting for a new vote


def test_script_in_an_answer_is_shown_as_text(page, live_asgi) -> None:
    prompt = PromptFactory(text="Say <b>hi</b>")
    ResponseFactory(prompt=prompt, text="<script>window.pwned = true</script><img src=x onerror='window.pwned=1'>")
    ResponseFactory(prompt=prompt, text="hello")
    sign_in(page, live_asgi)
    assert page.evaluate("window.pwned === undefined")
    answers = page.locator('[data-testid="answer-left"], [data-testid="answer-right"]').all_inner_texts()
    assert any("<script>window.pwned = true</script>" in a for a in answers)
    assert "<b>hi</b>" in page.locator('[data-testid="prompt"]').inner_text()


def test_phone_viewport_is_usable(browser, live_asgi, shots) -> None:
    pool(prompts=2)
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    page = context.new_page()
    user = sign_in(page, live_asgi)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scrolling
    for testid in ("vote-left", "vote-right", "vote-tie", "vote-both-bad"):
        box = page.locator(f'[data-testid="{testid}"]').bounding_box()
        assert box and box["height"] >= 44 and box["x"] >= 0 and box["x"] + box["width"] <= 375
    pair = page.locator("form.vote-form").get_attribute("data-pair")
    page.tap('[data-testid="vote-right"]')
    wait_for_pair_change(page, pair)
    assert Vote.objects.filter(user=user).count() == 1
    page.screenshot(path=str(shots / "vote-phone.png"))
    context.close()


def test_dark_mode_toggle_persists(page, live_asgi, shots) -> None:
    pool(prompts=1)
    sign_in(page, live_asgi)
    light_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.click('[data-testid="theme-toggle"]')
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    dark_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert dark_bg != light_bg
    page.reload()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == dark_bg
    page.screenshot(path=str(shots / "vote-dark.png"))


def test_first_visit_shows_onboarding_and_shortcut_help(page, live_asgi) -> None:
    pool(prompts=1)
    sign_in(page, live_asgi, onboarded=False)
    assert page.locator('[data-testid="onboarding"]').is_visible()
    assert page.locator('[data-testid="onboarding"] .examples li').count() == 3
    page.click('[data-testid="onboarding-close"]')
    page.keyboard.press("?")
    assert page.locator("#shortcuts").is_visible()


def test_enter_in_why_records_nothing_and_asks_for_a_choice(page, live_asgi) -> None:
    pool(prompts=3)
    user = sign_in(page, live_asgi)
    pair = page.locator("form.vote-form").get_attribute("data-pair")
    page.fill('input[name="rationale"]', "B is shorter")
    page.press('input[name="rationale"]', "Enter")
    hint = page.locator('[data-testid="choose-hint"]')
    hint.wait_for(state="visible", timeout=5_000)
    assert "choose" in hint.inner_text().lower()
    page.wait_for_timeout(500)  # a submission, had one started, would have reached the server by now
    assert Vote.objects.filter(user=user).count() == 0
    assert page.locator('input[name="rationale"]').input_value() == "B is shorter"  # the reason is kept
    page.click('[data-testid="vote-right"]')
    wait_for_pair_change(page, pair)
    vote = Vote.objects.get(user=user)
    assert (vote.choice, vote.rationale) == ("right", "B is shorter")
