from __future__ import annotations

import json
import uuid

import pytest

from tests.factories import PairFactory, UserFactory
from webapp.profiles.models import RewardProfile
from webapp.votes.models import Pair, Vote
from webapp.votes.services import vote_record


@pytest.mark.django_db
def test_download_contains_only_my_votes(client) -> None:
    mine, theirs = PairFactory(), PairFactory()
    vote_record(user=mine.user, pair_id=mine.pk, idempotency_key=uuid.uuid4(), choice="tie", rationale="same")
    vote_record(user=theirs.user, pair_id=theirs.pk, idempotency_key=uuid.uuid4(), choice="left")
    client.force_login(mine.user)
    response = client.get("/me/data.json")
    assert response["Content-Disposition"].startswith("attachment")
    data = json.loads(response.content)
    assert [v["choice"] for v in data["votes"]] == ["tie"] and data["votes"][0]["rationale"] == "same"
    assert data["votes"][0]["left"] == mine.left.text


@pytest.mark.django_db
def test_delete_needs_confirmation_and_removes_only_my_data(client) -> None:
    mine, theirs = PairFactory(), PairFactory()
    for pair in (mine, theirs):
        vote_record(user=pair.user, pair_id=pair.pk, idempotency_key=uuid.uuid4(), choice="left")
    RewardProfile.objects.create(user=mine.user)
    client.force_login(mine.user)
    client.post("/me/delete/")
    assert Vote.objects.filter(user=mine.user).exists()
    client.post("/me/delete/", {"confirm": "delete"})
    assert not Vote.objects.filter(user=mine.user).exists() and not Pair.objects.filter(user=mine.user).exists()
    assert not RewardProfile.objects.filter(user=mine.user).exists()
    assert Vote.objects.filter(user=theirs.user).count() == 1


@pytest.mark.django_db
def test_profile_page_needs_login_and_shows_hooks(client) -> None:
    assert client.get("/me/").status_code == 302
    client.force_login(UserFactory())
    html = client.get("/me/").content.decode()
    for hook in ("profile-panel", "weights-chart", "prototype-badge", "download-data", "delete-data"):
        assert f'data-testid="{hook}"' in html


@pytest.mark.django_db
def test_summary_edit_is_kept_and_too_long_is_refused(client) -> None:
    user = UserFactory()
    client.force_login(user)
    client.post("/me/summary/", {"summary": "z" * 700})
    assert not RewardProfile.objects.filter(user=user, summary_edited=True).exists()
    response = client.post("/me/summary/", {"summary": "Plain words, no lists please."}, follow=True)
    assert "Summary saved" in response.content.decode()
    profile = RewardProfile.objects.get(user=user)
    assert profile.summary_edited and profile.summary == "Plain words, no lists please."
    assert 'data-testid="summary-edit"' in response.content.decode()
