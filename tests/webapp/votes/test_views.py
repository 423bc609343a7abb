from __future__ import annotations

import re
import uuid

import pytest

from tests.factories import PromptFactory, ResponseFactory, UserFactory
from webapp.votes.models import Pair, Vote


@pytest.fixture
def voter(client):
    user = UserFactory()
    client.force_login(user)
    prompt = PromptFactory()
    ResponseFactory.create_batch(3, prompt=prompt)
    return user


def _pair_id(html: str) -> int:
    return int(re.search(r'name="pair_id" value="(\d+)"', html).group(1))


@pytest.mark.django_db
def test_anonymous_user_is_sent_to_login(client) -> None:
    response = client.get("/vote/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.django_db
def test_vote_page_shows_a_pair_and_reload_keeps_it(client, voter) -> None:
    first = client.get("/vote/")
    assert first.status_code == 200
    for hook in ("vote-left", "vote-right", "vote-tie", "vote-both-bad", "profile-panel"):
        assert f'data-testid="{hook}"' in first.content.decode()
    assert _pair_id(client.get("/vote/").content.decode()) == _pair_id(first.content.decode())
    assert Pair.objects.filter(user=voter).count() == 1


@pytest.mark.django_db
def test_htmx_vote_stores_the_shown_order_and_returns_the_next_pair(client, voter) -> None:
    pair_id = _pair_id(client.get("/vote/").content.decode())
    response = client.post("/vote/", {"pair_id": pair_id, "idempotency_key": str(uuid.uuid4()), "choice": "right",
                                      "strength": "3"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    vote = Vote.objects.get()
    assert vote.choice == "right" and vote.strength == 3
    assert vote.pair.left_id != vote.pair.right_id
    assert _pair_id(response.content.decode()) != pair_id  # the fragment is the next pair
    assert "<html" not in response.content.decode()


@pytest.mark.django_db
def test_bad_vote_gets_a_clear_error_and_stores_nothing(client, voter) -> None:
    pair_id = _pair_id(client.get("/vote/").content.decode())
    response = client.post("/vote/", {"pair_id": pair_id, "idempotency_key": "not-a-uuid", "choice": "left"},
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert "Vote not saved" in response.content.decode() and "idempotency_key" in response.content.decode()
    assert not Vote.objects.exists()


@pytest.mark.django_db
def test_answers_are_rendered_as_text_never_as_html(client) -> None:
    user = UserFactory()
    client.force_login(user)
    prompt = PromptFactory(text="<img src=x onerror=alert(1)>")
    ResponseFactory(prompt=prompt, text="<script>alert('xss')</script> **bold**")
    ResponseFactory(prompt=prompt, text="plain")
    html = client.get("/vote/").content.decode()
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert "<img src=x" not in html
    assert "<strong>bold</strong>" in html  # markdown still renders
