"""Staff open the quality page from the menu and narrow it to the flagged voters."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import PASSWORD
from tests.factories import UserFactory
from tests.webapp.quality.test_quality import _gold


@pytest.mark.browser
def test_staff_find_the_flagged_voters(page, live_asgi, shots, settings) -> None:
    settings.TAILOR_QUALITY = {**settings.TAILOR_QUALITY, "min_gold_votes": 2}
    careless, careful = UserFactory(username="careless"), UserFactory(username="careful")
    for _ in range(2):
        _gold(careless, right=False)
        _gold(careful, right=True)
    UserFactory(username="boss", is_staff=True)
    page.goto(f"{live_asgi}/accounts/login/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", PASSWORD)
    page.click('[data-testid="login-submit"]')
    page.wait_for_url(f"{live_asgi}/vote/")
    if page.locator('[data-testid="onboarding"]').is_visible():
        page.click('[data-testid="onboarding-close"]')
    page.click('[data-testid="nav-quality"]')
    page.wait_for_url(f"{live_asgi}/staff/quality/")
    assert page.locator('[data-testid="flagged-count"]').inner_text() == "1 of 2 flagged"
    page.click('[data-testid="only-flagged"]')
    page.wait_for_url(f"{live_asgi}/staff/quality/?flagged=1")
    rows = page.locator('[data-testid="voters"] tbody tr')
    assert rows.count() == 1
    assert "careless" in rows.first.inner_text() and "gold accuracy 0% < 60%" in rows.first.inner_text()
    page.screenshot(path=str(shots / "quality-page.png"), full_page=True)
