"""The API's Swagger page in a real browser: it renders every resource from local assets only, and a signed-in
user can try an endpoint with their session."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import sign_in


@pytest.mark.browser
def test_swagger_page_renders_locally_and_tries_my_profile(page, live_asgi, shots) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    sign_in(page, live_asgi, username="scripter")
    page.goto(f"{live_asgi}/api/docs/")
    page.wait_for_selector("#operations-votes-votes_create", timeout=20_000)
    assert page.locator(".opblock").count() >= 30
    block = page.locator("#operations-profile-profile_retrieve")
    block.locator(".opblock-summary").click()
    block.locator("button.try-out__btn").click()
    block.locator("button.execute").click()
    page.wait_for_selector("#operations-profile-profile_retrieve .live-responses-table tr.response .response-col_status",
                           timeout=15_000)
    status = block.locator(".live-responses-table tr.response .response-col_status").first.inner_text().strip()
    assert status == "200"
    assert '"vote_count": 0' in block.locator(".live-responses-table .microlight").first.inner_text()
    page.screenshot(path=str(shots / "api-docs.png"))
    outside = [url for url in requested if not url.startswith(live_asgi)]
    assert outside == [], outside  # no CDN, no fonts, nothing fetched from elsewhere
