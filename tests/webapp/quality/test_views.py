"""The staff quality page: staff only, shows each voter's figures and flags, and α per prototype."""

from __future__ import annotations

import pytest

from tests.factories import UserFactory
from tests.webapp.quality.test_quality import _gold


@pytest.mark.django_db
def test_quality_page_is_for_staff_only(client) -> None:
    assert client.get("/staff/quality/").status_code == 302  # to the login page
    client.force_login(UserFactory())
    assert client.get("/staff/quality/").status_code == 403


@pytest.mark.django_db
def test_quality_page_lists_flagged_voters_with_their_reason(client, settings) -> None:
    settings.TAILOR_QUALITY = {**settings.TAILOR_QUALITY, "min_gold_votes": 2}
    careless, careful = UserFactory(username="careless"), UserFactory(username="careful")
    for _ in range(2):
        _gold(careless, right=False)
        _gold(careful, right=True)
    client.force_login(UserFactory(is_staff=True))
    html = client.get("/staff/quality/").content.decode()
    assert "1 of 2 flagged" in html and "gold accuracy 0% &lt; 60%" in html
    only = client.get("/staff/quality/?flagged=1").content.decode()
    assert "careless" in only and "careful" not in only
