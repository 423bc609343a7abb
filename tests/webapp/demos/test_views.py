from __future__ import annotations

import json
import re
import uuid

import pytest
from django.test import Client, override_settings

from tests.factories import UserFactory
from tests.webapp.demos.factories_demo import join, presenter, scored_pool, session
from webapp.demos import services
from webapp.demos.models import DemoSession, Participant
from webapp.votes.models import Pair, Vote

pytestmark = pytest.mark.django_db


def _staff_client(user: object | None = None) -> tuple[Client, object]:
    user = user or presenter()
    client = Client()
    client.force_login(user)
    return client, user


def _joined_client(demo: DemoSession, name: str = "Ada") -> Client:
    client = Client()
    response = client.post("/demo/join/", {"code": demo.code, "display_name": name})
    assert response.status_code == 302 and response["Location"] == f"/demo/{demo.code}/"
    return client


def test_new_form_needs_a_signed_in_staff_member() -> None:
    scored_pool(prompts=2)
    anonymous = Client().get("/demo/new/")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    client = Client()
    client.force_login(UserFactory())
    assert client.get("/demo/new/").status_code == 403
    assert client.post("/demo/new/", {"name": "sneaky"}).status_code == 403
    assert not DemoSession.objects.exists()


def test_a_name_alone_creates_the_session_and_leads_to_its_presenter_screen() -> None:
    scored_pool(prompts=3)
    client, staff = _staff_client()
    assert client.get("/demo/new/").status_code == 200
    response = client.post("/demo/new/", {"name": "Meetup"})
    demo = DemoSession.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/demo/{demo.code}/present/"
    assert demo.presenter == staff and demo.show_prototype and demo.pairs_per_participant == 10
    page = client.get(response["Location"]).content.decode()
    assert f'data-testid="join-code">{demo.code}<' in page
    assert 'data-testid="participant-count">0<' in page and 'data-testid="stage">lobby<' in page
    assert re.search(r'data-testid="prototype-map"\s+data-version="\d+"', page)
    assert "<svg" in page and f"/demo/join/?code={demo.code}" in page  # QR code and join URL
    assert f'ws-connect="/ws/demo/{demo.code}/present/"' in page


def test_the_form_reports_bad_input_and_keeps_what_was_typed() -> None:
    ids = scored_pool(prompts=2)
    client, _ = _staff_client()
    response = client.post("/demo/new/", {"name": "", "pairs_per_participant": "99"})
    assert response.status_code == 400 and not DemoSession.objects.exists()
    response = client.post("/demo/new/", {"name": "Keep me", "prompts": [ids[0]], "showcase_prompt": ids[1]})
    body = response.content.decode()
    assert response.status_code == 400 and "showcase prompt must be one of" in body and "Keep me" in body
    response = client.post("/demo/new/", {"name": "Quiet", "show_prototype": "no", "pairs_per_participant": "3"})
    demo = DemoSession.objects.get()
    assert response.status_code == 302 and not demo.show_prototype and demo.pairs_per_participant == 3


def test_only_the_presenter_sees_the_presenter_screen() -> None:
    scored_pool(prompts=2)
    demo = session()
    other_staff, _ = _staff_client()
    assert other_staff.get(f"/demo/{demo.code}/present/").status_code == 403
    participant = _joined_client(demo)
    assert participant.get(f"/demo/{demo.code}/present/").status_code == 403
    presenter_client, _ = _staff_client(demo.presenter)
    assert presenter_client.get("/demo/ZZZZZZZZ/present/").status_code == 404


def test_join_page_prefills_the_code_from_the_qr_link_and_explains_errors() -> None:
    scored_pool(prompts=2)
    demo = session()
    client = Client()
    assert f'value="{demo.code}"' in client.get(f"/demo/join/?code={demo.code}").content.decode()
    wrong = client.post("/demo/join/", {"code": "ZZZZZZZZ", "display_name": "Ada"})
    assert wrong.status_code == 404 and "no open session has this code" in wrong.content.decode()
    assert 'value="Ada"' in wrong.content.decode()  # what was typed is kept
    missing = client.post("/demo/join/", {"code": demo.code, "display_name": ""})
    assert missing.status_code == 400 and not Participant.objects.exists()


def test_join_attempts_from_one_address_are_rate_limited() -> None:
    scored_pool(prompts=2)
    demo = session()
    client = Client()
    with override_settings(DEMO_JOIN_FAILURES_PER_IP=2):
        for _ in range(2):
            assert client.post("/demo/join/", {"code": "ZZZZZZZZ", "display_name": "x"}).status_code == 404
        limited = client.post("/demo/join/", {"code": demo.code, "display_name": "x"})
    assert limited.status_code == 429 and "too many join attempts" in limited.content.decode()
    assert not Participant.objects.exists()


def test_participants_vote_with_the_same_hooks_as_the_vote_page() -> None:
    ids = scored_pool(prompts=3)
    demo = session(prompt_ids=ids[:2], pairs_per_participant=2)
    client = _joined_client(demo)
    lobby = client.get(f"/demo/{demo.code}/").content.decode()
    assert 'data-testid="lobby"' in lobby and 'class="vote-form"' in lobby  # joining leads straight to voting
    services.session_stage_advance(session_id=demo.pk, user=demo.presenter, to_stage="voting")
    page = client.get(f"/demo/{demo.code}/").content.decode()
    assert 'data-testid="lobby"' not in page
    for hook in ('class="vote-form"', 'data-testid="vote-left"', 'data-testid="vote-right"', 'data-testid="vote-tie"',
                 'data-testid="vote-both-bad"', 'data-testid="vote-skip"', 'data-testid="profile-panel"',
                 'name="idempotency_key"', f'hx-post="/demo/{demo.code}/vote/"'):
        assert hook in page, hook
    user = Participant.objects.get().user
    for expected_votes in (1, 2):
        pair = Pair.objects.get(user=user, vote__isnull=True)
        assert pair.prompt_id in ids[:2]
        key = str(uuid.uuid4())
        fragment = client.post(f"/demo/{demo.code}/vote/", {"pair_id": pair.pk, "idempotency_key": key,
                                                             "choice": "left"}, HTTP_HX_REQUEST="true")
        assert fragment.status_code == 200 and Vote.objects.filter(user=user).count() == expected_votes
        # a resubmission of the same vote counts once
        client.post(f"/demo/{demo.code}/vote/", {"pair_id": pair.pk, "idempotency_key": key, "choice": "left"},
                    HTTP_HX_REQUEST="true")
        assert Vote.objects.filter(user=user).count() == expected_votes
    # the session's budget of pairs is spent: no further pair
    assert 'data-testid="no-pairs"' in fragment.content.decode()
    assert not Pair.objects.filter(user=user, vote__isnull=True).exists()


def test_votes_outside_the_voting_stage_and_by_outsiders_are_refused() -> None:
    scored_pool(prompts=2)
    demo = session()
    client = _joined_client(demo)
    services.session_stage_advance(session_id=demo.pk, user=demo.presenter, to_stage="voting")
    client.get(f"/demo/{demo.code}/")
    pair = Pair.objects.get()
    services.session_stage_advance(session_id=demo.pk, user=demo.presenter, to_stage="reveal")
    late = client.post(f"/demo/{demo.code}/vote/", {"pair_id": pair.pk, "idempotency_key": str(uuid.uuid4()),
                                                    "choice": "left"}, HTTP_HX_REQUEST="true")
    assert late.status_code == 409 and "voting is closed" in late.content.decode()
    outsider = Client()
    outsider.force_login(UserFactory())
    assert outsider.post(f"/demo/{demo.code}/vote/", {"pair_id": pair.pk, "idempotency_key": str(uuid.uuid4()),
                                                      "choice": "left"}).status_code == 403
    assert not Vote.objects.exists()


def test_stage_buttons_and_export_download() -> None:
    scored_pool(prompts=2)
    demo = session()
    join(demo, "Ada")
    client, _ = _staff_client(demo.presenter)
    response = client.post(f"/demo/{demo.code}/stage/", {"stage": "voting"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and 'data-testid="stage">voting<' in response.content.decode()
    stale = client.post(f"/demo/{demo.code}/stage/", {"stage": "voting"}, HTTP_HX_REQUEST="true")
    assert stale.status_code == 409 and "can only move to reveal" in stale.content.decode()
    assert client.get(f"/demo/{demo.code}/export.json").status_code == 409  # not closed yet
    for stage in ("reveal", "closed"):
        assert client.post(f"/demo/{demo.code}/stage/", {"stage": stage}).status_code == 302
    download = client.get(f"/demo/{demo.code}/export.json")
    assert download.status_code == 200 and "attachment" in download["Content-Disposition"]
    data = json.loads(download.content)
    assert data["format"] == "tailor.demo_session/1" and data["participants"][0]["display_name"] == "Ada"
    assert [s["stage"] for s in data["session"]["stages"]] == ["lobby", "voting", "reveal", "closed"]


def test_sessions_are_browsable_in_django_admin() -> None:
    scored_pool(prompts=2)
    demo = session(name="Searchable")
    join(demo, "Ada")
    admin_client = Client()
    admin_client.force_login(UserFactory(is_staff=True, is_superuser=True))
    listing = admin_client.get("/admin/demos/demosession/?q=Searchable&stage__exact=lobby")
    assert listing.status_code == 200 and demo.code in listing.content.decode()
    detail = admin_client.get(f"/admin/demos/demosession/{demo.pk}/change/")
    assert detail.status_code == 200 and "Ada" in detail.content.decode()
    assert admin_client.get("/admin/demos/demosession/add/").status_code == 403


def test_guests_stay_in_their_room() -> None:
    scored_pool(prompts=2)
    demo = session()
    client = _joined_client(demo)
    for path in ("/vote/", "/compare/", "/me/", "/", "/api/v1/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"] == f"/demo/{demo.code}/", path
    page = client.get(f"/demo/{demo.code}/").content.decode()
    assert "Leave (Ada)" in page and "My profile" not in page  # the top bar offers only the room
    # a regular account is not affected, even one whose name looks like a guest's
    regular = Client()
    regular.force_login(UserFactory(username="guest-lookalike"))
    assert regular.get("/vote/").status_code == 200


def test_the_join_page_warns_a_signed_in_user_that_joining_signs_them_out() -> None:
    scored_pool(prompts=2)
    demo = session()
    client, _ = _staff_client(demo.presenter)
    assert "Joining signs you out" in client.get(f"/demo/join/?code={demo.code}").content.decode()
    assert "Joining signs you out" not in Client().get("/demo/join/").content.decode()


def test_a_room_vote_costs_a_bounded_number_of_queries(django_assert_max_num_queries) -> None:
    """The vote POST is the hot path of a voting room (every participant, every few seconds): store the vote and
    answer the next pair in a fixed handful of queries, however many votes came before."""
    ids = scored_pool(prompts=4, per_prompt=4)
    demo = session(prompt_ids=ids, pairs_per_participant=20)
    client = _joined_client(demo)
    services.session_stage_advance(session_id=demo.pk, user=demo.presenter, to_stage="voting")
    client.get(f"/demo/{demo.code}/")
    user = Participant.objects.get().user
    for _ in range(6):
        pair = Pair.objects.get(user=user, vote__isnull=True)
        with django_assert_max_num_queries(QUERIES_PER_ROOM_VOTE):
            response = client.post(f"/demo/{demo.code}/vote/", {
                "pair_id": pair.pk, "idempotency_key": str(uuid.uuid4()), "choice": "left"}, HTTP_HX_REQUEST="true")
        assert response.status_code == 200 and 'class="vote-form"' in response.content.decode()
    assert Vote.objects.filter(user=user).count() == 6


#: measured on PostgreSQL (inside the test's transaction, so atomic blocks count SAVEPOINT/RELEASE too): 19 at
#: most, plus room for the next pair's random draw (an active suggestion reads more than a random pair)
QUERIES_PER_ROOM_VOTE = 22
