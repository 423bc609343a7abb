from __future__ import annotations

import pytest
from django.template.loader import render_to_string

from tests.factories import UserFactory
from webapp.profiles.models import BaseRewardBank, RewardProfile
from webapp.prototypes.models import Prototype, PrototypeFit
from webapp.prototypes.projection import projection_fit
from webapp.prototypes.selectors import prototype_map

NAMES = ["brevity", "structure", "formality"]


def _bank() -> BaseRewardBank:
    return BaseRewardBank.objects.create(version=1, encoder="test", names=NAMES, state={}, is_active=True)


def _profile(bank, weights, *, votes=5, key=None, username=None) -> RewardProfile:
    user = UserFactory(**({"username": username} if username else {}))
    eye = [[0.1 if a == b else 0.0 for b in range(3)] for a in range(3)]
    return RewardProfile.objects.create(user=user, bank=bank, weights=weights, covariance=eye, vote_count=votes,
                                        version=1, prototype_id=key, summary=f"summary of {user.username}")


@pytest.mark.django_db
def test_map_projects_users_and_prototypes_with_names_and_votes() -> None:
    bank = _bank()
    Prototype.objects.create(key=0, name="Brief", bank=bank, mean=[2.0, 0.0, 0.0], size=2)
    Prototype.objects.create(key=1, bank=bank, mean=[-2.0, 0.0, 0.0], size=1)
    Prototype.objects.create(key=2, bank=bank, mean=[0.0, 0.0, 0.0], status=Prototype.Status.RETIRED)
    a = _profile(bank, [2.0, 0.1, 0.0], key=0, votes=9, username="ann")
    _profile(bank, [1.8, -0.1, 0.1], key=0)
    c = _profile(bank, [-2.0, 0.0, 0.0], key=1)
    _profile(None, [], votes=0)  # never fitted: not on the map
    result = prototype_map()
    by_user = {p["user_id"]: p for p in result["points"]}
    assert set(by_user) == {a.user_id, c.user_id, a.user_id + 1}
    assert by_user[a.user_id]["label"] == "ann" and by_user[a.user_id]["votes"] == 9
    assert by_user[a.user_id]["prototype_key"] == 0 and by_user[a.user_id]["summary"] == ""
    # the two clusters land on opposite sides of the first principal axis
    assert by_user[a.user_id]["x"] * by_user[c.user_id]["x"] < 0
    assert [p["key"] for p in result["prototypes"]] == [0, 1]  # retired ones are not drawn
    assert result["prototypes"][1]["name"] == "prototype #1"
    assert all(abs(p["x"]) <= 1.1 and abs(p["y"]) <= 1.1 for p in result["points"])
    assert prototype_map(with_summaries=True)["points"][0]["summary"].startswith("summary of")


@pytest.mark.django_db
def test_map_uses_the_basis_stored_with_the_fit_and_version_grows_with_each_fit() -> None:
    bank = _bank()
    a = _profile(bank, [1.0, 0.0, 0.0])
    b = _profile(bank, [-1.0, 0.0, 0.0])
    # a stored basis that maps brevity to y (not x, which a fresh PCA would choose)
    PrototypeFit.objects.create(version=1, k=1, users=2, criterion="bic", projection={
        "bank_id": bank.pk, "center": [0.0, 0.0, 0.0], "basis": [[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]], "scale": 2.0})
    first = prototype_map()
    point = {p["user_id"]: p for p in first["points"]}[a.user_id]
    assert (point["x"], point["y"]) == (0.0, 0.5)
    RewardProfile.objects.filter(pk=b.pk).update(version=2, weights=[-1.0, 0.5, 0.0])
    second = prototype_map()
    assert second["version"] > first["version"]
    assert prototype_map(user_ids=[a.user_id])["points"][0]["user_id"] == a.user_id
    assert len(prototype_map(user_ids=[a.user_id])["points"]) == 1
    assert prototype_map(user_ids=[])["points"] == []


def test_projection_keeps_its_axes_from_flipping() -> None:
    weights = [[1.0, 0.2, 0.0], [-1.0, -0.2, 0.0], [0.0, 0.0, 0.5], [0.3, 0.0, -0.5]]
    first = projection_fit(weights, bank_id=1)
    flipped = {**first, "basis": [[-v for v in row] for row in first["basis"]]}
    again = projection_fit(weights, bank_id=1, previous=flipped)
    # the same data refitted after a stored basis with flipped signs follows the stored signs
    assert all(abs(x - y) < 1e-9 for r1, r2 in zip(again["basis"], flipped["basis"], strict=True)
               for x, y in zip(r1, r2, strict=True))
    with pytest.raises(ValueError):
        projection_fit([], bank_id=1)
    one = projection_fit([[1.0, 2.0, 3.0]], bank_id=None)  # one user: still a usable 2-D basis
    assert len(one["basis"]) == 3 and all(len(row) == 2 for row in one["basis"])


@pytest.mark.django_db
def test_map_partial_draws_every_point_with_a_tooltip() -> None:
    bank = _bank()
    Prototype.objects.create(key=3, name="Warm & chatty", bank=bank, mean=[0.0, 1.0, 0.0], size=1)
    _profile(bank, [0.0, 1.0, 0.0], key=3, username="bo")
    _profile(bank, [1.0, 0.0, 0.0], key=None, username="cy")
    payload = prototype_map(with_summaries=True)
    html = render_to_string("prototypes/_map.html", {"map": payload, "oob": True})
    assert 'data-testid="prototype-map"' in html and f'data-version="{payload["version"]}"' in html
    assert 'hx-swap-oob="true"' in html and html.count('data-testid="map-point"') == 2
    assert "bo · 5 votes · Warm &amp; chatty" in html and "summary of bo" in html
    assert "cy · 5 votes · no prototype yet" in html


@pytest.mark.django_db
def test_map_partial_escapes_what_users_wrote() -> None:
    bank = _bank()
    profile = _profile(bank, [0.0, 1.0, 0.0], username="mal")
    RewardProfile.objects.filter(pk=profile.pk).update(summary="</title><script>alert(1)</script>")
    _profile(bank, [1.0, 0.0, 0.0])
    html = render_to_string("prototypes/_map.html", {"map": prototype_map(with_summaries=True)})
    assert "<script>" not in html and "&lt;/title&gt;&lt;script&gt;" in html
