"""/staff/prototypes/ as a reviewer uses it: the live map, rename, merge, the audit, and a map that moves when
another user's vote is refitted."""

from __future__ import annotations

import threading

import pytest

from tests.e2e.helpers import PASSWORD, pool, sign_in, wait_for_pair_change
from tests.factories import UserFactory
from tests.workers.test_prototype_review import two_groups_of_users
from webapp.profiles.models import RewardProfile
from webapp.prototypes.models import Prototype, PrototypeAudit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _refit_in_a_thread() -> None:
    """The refit pushes through async_to_sync, which cannot run on the thread where Playwright's loop runs."""
    from workers.learning import prototypes_refit_run

    errors: list[BaseException] = []

    def run() -> None:
        try:
            prototypes_refit_run()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=120)
    assert not errors and not thread.is_alive(), errors


def test_reviewer_renames_merges_and_watches_the_map_move(browser, page, live_asgi, celery_worker_live,
                                                          shots) -> None:
    pool(prompts=4)
    brief_users, long_users = two_groups_of_users(votes=True)
    RewardProfile.objects.filter(user_id=brief_users[0]).update(summary="You prefer brief answers.")
    _refit_in_a_thread()
    brief_key = RewardProfile.objects.get(user_id=brief_users[0]).prototype_id
    long_key = RewardProfile.objects.get(user_id=long_users[0]).prototype_id
    UserFactory(username="reviewer", is_staff=True)

    page.goto(f"{live_asgi}/staff/prototypes/")  # not signed in: the login page, then back here
    page.fill("#id_username", "reviewer")
    page.fill("#id_password", PASSWORD)
    page.click('[data-testid="login-submit"]')
    page.wait_for_url(f"{live_asgi}/staff/prototypes/")
    the_map = page.locator('[data-testid="prototype-map"]')
    assert the_map.locator('[data-testid="map-point"]').count() == 12
    assert the_map.locator('[data-testid="map-prototype"]').count() == 2
    hover = page.locator(f'[data-testid="map-point"][data-user="{brief_users[0]}"] title').text_content()
    assert "You prefer brief answers." in hover

    # a prototype's own page: size, centroid with spread, members, where it disagrees, agreement, trend
    page.click(f'[data-testid="prototype-row"][data-key="{brief_key}"] [data-testid="prototype-name"]')
    page.wait_for_url(f"{live_asgi}/staff/prototypes/{brief_key}/")
    assert page.locator('[data-testid="detail-size"]').inner_text() == "6"
    assert page.locator('[data-testid="detail-axes"] li').count() == 8
    assert page.locator('[data-testid="detail-members"] li').count() == 5
    assert "100% of 18 member votes agree" in page.locator('[data-testid="detail-agreement"]').inner_text()
    assert page.locator('[data-testid="detail-disagreement"]').count() >= 1
    assert page.locator('[data-testid="detail-trend"]').get_attribute("data-points") == "1"
    page.screenshot(path=str(shots / "prototype-detail.png"), full_page=True)
    page.go_back()

    row = page.locator(f'[data-testid="prototype-row"][data-key="{long_key}"]')
    row.locator('[data-testid="rename-input"]').fill("Thorough explainers")
    row.locator('[data-testid="rename-submit"]').click()
    page.wait_for_selector('[data-testid="audit-entry"][data-action="rename"]')
    assert page.locator(f'[data-testid="prototype-row"][data-key="{long_key}"] [data-testid="prototype-name"]'
                        ).inner_text() == "Thorough explainers"

    page.select_option('[data-testid="merge-source"]', str(brief_key))
    page.select_option('[data-testid="merge-target"]', str(long_key))
    page.once("dialog", lambda dialog: dialog.dismiss())  # a merge asks first: on "cancel" nothing happens
    page.click('[data-testid="merge-submit"]')
    page.wait_for_timeout(500)
    assert not PrototypeAudit.objects.filter(action="merge").exists()
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.click('[data-testid="merge-submit"]')
    page.wait_for_selector('[data-testid="audit-entry"][data-action="merge"]')
    assert page.locator(f'[data-testid="prototype-row"][data-key="{brief_key}"]').get_attribute(
        "data-status") == "retired"
    assert asked and "merge" in asked[0].lower()
    entry = page.locator('[data-testid="audit-entry"][data-action="merge"]').first.inner_text()
    assert "reviewer" in entry and f"#{brief_key}" in entry
    assert Prototype.objects.get(key=long_key).size == 12
    assert list(PrototypeAudit.objects.values_list("action", flat=True).order_by("id")) == ["refit", "rename", "merge"]  # the first run is audited (keys appeared)
    page.wait_for_selector('[data-testid="prototype-map"] [data-testid="map-prototype"]')
    assert page.locator('[data-testid="map-prototype"]').count() == 1

    # someone else votes in another browser; the worker refits them and the reviewer's map updates by push
    version = int(the_map.get_attribute("data-version"))
    voter_page = browser.new_context().new_page()
    voter = sign_in(voter_page, live_asgi, username="newcomer")
    pair = voter_page.locator("form.vote-form").get_attribute("data-pair")
    voter_page.keyboard.press("1")
    wait_for_pair_change(voter_page, pair)
    try:
        page.wait_for_selector(f'[data-testid="map-point"][data-user="{voter.pk}"]', timeout=60_000)
    except Exception as exc:  # say whether the worker refitted the voter or the push did not arrive
        profile = RewardProfile.objects.filter(user=voter).values("version", "bank_id", "weights").first()
        raise AssertionError(f"voter not on the map; their profile: {profile}; map version "
                             f"{page.locator('[data-testid=prototype-map]').get_attribute('data-version')}") from exc
    assert int(page.locator('[data-testid="prototype-map"]').get_attribute("data-version")) > version
    assert page.locator('[data-testid="map-point"]').count() == 13
    voter_page.context.close()

    page.click('[data-testid="refit-now"]')  # re-run clustering: the worker's progress arrives by push
    page.wait_for_selector('[data-testid="review-progress"][data-stage="done"]', timeout=60_000)
    page.wait_for_selector('[data-testid="audit-entry"][data-action="refit"] >> text=reviewer')
    assert Prototype.objects.get(key=brief_key).status == "retired"  # the merge survived the re-run
    assert Prototype.objects.get(key=long_key).name == "Thorough explainers"
    # the list was re-rendered and pushed by the run: its forms work too (CSRF from the page's hx-headers)
    page.click(f'[data-testid="prototype-row"][data-key="{long_key}"] [data-testid="approve"]')
    page.wait_for_selector('[data-testid="audit-entry"][data-action="approve"]')
    assert Prototype.objects.get(key=long_key).status == "approved"
    page.screenshot(path=str(shots / "prototype-review.png"), full_page=True)
