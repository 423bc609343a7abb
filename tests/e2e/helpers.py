"""Shared steps of the browser tests."""

from __future__ import annotations

from tests.factories import PromptFactory, ResponseFactory, UserFactory

PASSWORD = "correct-horse-battery"


def pool(prompts: int = 6, per_prompt: int = 3) -> None:
    styles = [
        ("Rarely. Once a month is plenty.", [0.9, 0, .5, .1, 0, .1, 0, .6]),
        ("1. Check the soil.\n2. Water deeply.\n3. Let it dry out completely.", [0.4, 1, .5, .1, 0, .2, .1, .5]),
        ("Hey! Cacti are super chill, just give 'em a splash now and then :)", [0.6, 0, .1, .6, .4, 0, 0, .5]),
    ]
    for i in range(prompts):
        prompt = PromptFactory(text=f"How do I water a cactus, take {i}?")
        for text, scores in styles[:per_prompt]:
            ResponseFactory(prompt=prompt, text=text, axis_scores=scores)


def sign_in(page, base: str, *, username: str = "carol", onboarded: bool = True):
    user = UserFactory(username=username)
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click('[data-testid="login-submit"]')
    page.wait_for_url(f"{base}/vote/")
    if onboarded and page.locator('[data-testid="onboarding"]').is_visible():
        page.click('[data-testid="onboarding-close"]')
    return user


def wait_for_pair_change(page, previous: str) -> str:
    try:
        page.wait_for_function(
            "prev => { const f = document.querySelector('form.vote-form'); return f && f.dataset.pair !== prev; }",
            arg=previous, timeout=15_000,
        )
    except Exception as exc:  # say what the page says, not just that it timed out
        error = page.locator('[data-testid="vote-error"]')
        raise AssertionError(f"pair did not change; page says: {error.all_inner_texts()}") from exc
    return page.locator("form.vote-form").get_attribute("data-pair")
