from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.utils import timezone

from tests.factories import PromptFactory, ResponseFactory, UserFactory
from tests.webapp.demos.factories_demo import join, presenter, scored_pool, session
from webapp.demos import services
from webapp.demos.codes import ALPHABET, LENGTH, code_normalise, code_well_formed
from webapp.demos.models import DemoSession, Participant, StageChange
from webapp.votes import selectors as vote_selectors
from webapp.votes.models import Vote
from webapp.votes.services import vote_record

pytestmark = pytest.mark.django_db


def test_a_name_alone_creates_a_session_with_defaults() -> None:
    ids = scored_pool(prompts=4)
    richest = PromptFactory(text="Which plant is easiest?", domain="garden")
    for i in range(5):
        ResponseFactory(prompt=richest, text=f"plant {i}")
    demo = session(name="  Friday   meetup ")
    assert demo.name == "Friday meetup" and demo.stage == DemoSession.Stage.LOBBY
    assert code_well_formed(demo.code) and len(demo.code) == LENGTH
    assert set(demo.prompts.values_list("pk", flat=True)) == {*ids, richest.pk}
    assert demo.showcase_prompt_id == richest.pk  # most candidates to choose from
    assert demo.pairs_per_participant == 10 and demo.show_prototype
    assert demo.expires_at > timezone.now() + timedelta(hours=11)
    assert StageChange.objects.filter(session=demo, stage="lobby").count() == 1


def test_codes_are_unique_and_drawn_from_the_unambiguous_alphabet() -> None:
    scored_pool(prompts=2)
    staff = presenter()
    codes = {session(presenter=staff, name=f"s{i}").code for i in range(30)}
    assert len(codes) == 30
    assert all(set(code) <= set(ALPHABET) for code in codes)
    assert not set("01OIL") & set(ALPHABET)
    assert code_normalise(" abcd-efgh ") == "ABCDEFGH"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"name": "   "}, "give the session a name"),
    ({"name": "x" * 121}, "limited to 120"),
    ({"pairs_per_participant": 0}, "between 1 and 50"),
])
def test_bad_session_settings_are_refused_with_a_clear_message(kwargs: dict, message: str) -> None:
    scored_pool(prompts=2)
    with pytest.raises(services.DemoRejected, match=message):
        session(**kwargs)
    assert not DemoSession.objects.exists()


def test_only_staff_can_create_and_prompts_must_be_votable() -> None:
    ids = scored_pool(prompts=2)
    with pytest.raises(services.DemoRejected) as refused:
        services.session_create(presenter=UserFactory(), name="mine")
    assert refused.value.status == 403
    lonely = PromptFactory(text="one answer only")
    ResponseFactory(prompt=lonely)
    with pytest.raises(services.DemoRejected, match="fewer than two scored answers"):
        session(prompt_ids=[*ids, lonely.pk])
    with pytest.raises(services.DemoRejected, match="showcase prompt must be one of"):
        session(prompt_ids=[ids[0]], showcase_prompt_id=ids[1])


def test_no_votable_prompt_at_all_is_a_clear_error() -> None:
    with pytest.raises(services.DemoRejected, match="load the demo data"):
        session()


def test_joining_creates_a_session_scoped_guest_without_password_or_email() -> None:
    scored_pool(prompts=2)
    demo = session()
    joined = services.participant_join(code=demo.code.lower(), display_name="  Ada  ", ip="10.0.0.1")
    guest = joined.participant.user
    assert joined.session == demo and joined.participant.display_name == "Ada"
    assert not guest.has_usable_password() and guest.email == "" and not guest.is_staff
    assert guest.username.startswith(f"guest-{demo.code.lower()}-")


def test_display_names_are_unique_per_session_ignoring_case() -> None:
    scored_pool(prompts=2)
    demo, other = session(), session(name="other")
    join(demo, "Ada")
    with pytest.raises(services.DemoRejected, match="already uses that name") as taken:
        join(demo, "ADA")
    assert taken.value.status == 409 and taken.value.field == "display_name"
    join(other, "Ada")  # another session: fine
    with pytest.raises(services.DemoRejected, match="control characters"):
        join(demo, "Ada\x00")
    with pytest.raises(services.DemoRejected, match="type the name"):
        join(demo, "   ")


def test_wrong_codes_are_rate_limited_per_ip() -> None:
    scored_pool(prompts=2)
    demo = session()
    with override_settings(DEMO_JOIN_FAILURES_PER_IP=3):
        for _ in range(3):
            with pytest.raises(services.DemoRejected, match="no open session has this code") as wrong:
                services.participant_join(code="ZZZZZZZZ", display_name="x", ip="10.0.0.9")
            assert wrong.value.status == 404
        # now even the right code is refused from this address, before any lookup...
        with pytest.raises(services.DemoRejected, match="too many join attempts") as limited:
            services.participant_join(code=demo.code, display_name="x", ip="10.0.0.9")
        assert limited.value.status == 429
        # ...while another address still joins
        services.participant_join(code=demo.code, display_name="y", ip="10.0.0.10")
    assert Participant.objects.filter(session=demo).count() == 1


def test_joins_per_session_and_room_size_are_capped() -> None:
    scored_pool(prompts=2)
    demo = session()
    with override_settings(DEMO_JOINS_PER_SESSION=2):
        join(demo, "a", ip="10.0.0.1")
        join(demo, "b", ip="10.0.0.2")
        with pytest.raises(services.DemoRejected, match="many joins right now") as limited:
            join(demo, "c", ip="10.0.0.3")
        assert limited.value.status == 429
    other = session(name="small")
    with override_settings(DEMO_MAX_PARTICIPANTS=1):
        join(other, "a")
        with pytest.raises(services.DemoRejected, match="full"):
            join(other, "b")


def test_stages_only_move_forward_one_at_a_time_by_the_presenter() -> None:
    scored_pool(prompts=2)
    staff = presenter()
    demo = session(presenter=staff)
    other_staff = presenter("someone-else")
    with pytest.raises(services.DemoRejected) as denied:
        services.session_stage_advance(session_id=demo.pk, user=other_staff, to_stage="voting")
    assert denied.value.status == 403
    with pytest.raises(services.DemoRejected, match="can only move to voting"):
        services.session_stage_advance(session_id=demo.pk, user=staff, to_stage="reveal")
    services.session_stage_advance(session_id=demo.pk, user=staff, to_stage="voting")
    with pytest.raises(services.DemoRejected) as stale:  # a second click on the same button
        services.session_stage_advance(session_id=demo.pk, user=staff, to_stage="voting")
    assert stale.value.status == 409
    demo = services.session_stage_advance(session_id=demo.pk, user=staff, to_stage="reveal")
    assert demo.reveal == {"status": "pending", "answers": []}
    assert list(StageChange.objects.filter(session=demo).values_list("stage", flat=True)) == [
        "lobby", "voting", "reveal"]


def test_closing_exports_the_data_and_ends_guest_access() -> None:
    scored_pool(prompts=2)
    staff = presenter()
    demo = session(presenter=staff)
    ada = join(demo, "Ada")
    services.session_stage_advance(session_id=demo.pk, user=staff, to_stage="voting")
    pair = vote_selectors.pair_next(user=ada.user, prompt_ids=set(demo.prompts.values_list("pk", flat=True)))
    vote_record(user=ada.user, pair_id=pair.pk, idempotency_key=uuid.uuid4(), choice="left")
    services.session_stage_advance(session_id=demo.pk, user=staff, to_stage="reveal")
    demo = services.session_stage_advance(session_id=demo.pk, user=staff, to_stage="closed")
    assert demo.closed_at is not None
    assert demo.export["participants"] == [
        {"display_name": "Ada", "user_id": ada.user_id, "joined_at": ada.joined_at.isoformat(), "votes": 1}]
    assert demo.export["votes"][0]["participant"] == "Ada" and demo.export["votes"][0]["choice"] == "left"
    # the API's export format: a left vote is one DPO triple, chosen = the left answer
    assert demo.export["dpo"] == [{**demo.export["dpo"][0], "prompt": pair.prompt.text, "chosen": pair.left.text,
                                   "rejected": pair.right.text, "participant": "Ada"}]
    assert demo.export["ties"] == [] and demo.export["both_bad"] == []
    assert "guest-" not in str(demo.export)  # guests appear by display name only
    ada.user.refresh_from_db()
    assert not ada.user.is_active
    with pytest.raises(services.DemoRejected, match="no open session"):
        join(demo, "Late")


def test_expiry_closes_old_sessions_and_deletes_their_guests_after_the_retention() -> None:
    scored_pool(prompts=2)
    demo = session()
    ada = join(demo, "Ada")
    fresh = session(name="fresh")
    bob = join(fresh, "Bob")
    later = timezone.now() + timedelta(hours=13)
    assert services.sessions_expire(now=later) == (2, 0)  # both past 12 h: closed, guests kept for now
    demo.refresh_from_db()
    assert demo.stage == "closed" and demo.export is not None
    assert services.sessions_expire(now=later + timedelta(hours=25)) == (0, 2)
    assert not get_user_model().objects.filter(pk__in=[ada.user_id, bob.user_id]).exists()
    demo.refresh_from_db()
    assert demo.export["participants"][0]["display_name"] == "Ada"  # the export outlives the guests


def test_pair_selection_stays_within_the_session_prompts() -> None:
    ids = scored_pool(prompts=6)
    demo = session(prompt_ids=ids[:2])
    ada = join(demo, "Ada")
    allowed = set(ids[:2])
    for _ in range(6):  # 2 prompts × 3 answers = 6 distinct pairs
        pair = vote_selectors.pair_next(user=ada.user, prompt_ids=allowed)
        assert pair is not None and pair.prompt_id in allowed
        vote_record(user=ada.user, pair_id=pair.pk, idempotency_key=uuid.uuid4(), choice="tie")
    assert vote_selectors.pair_next(user=ada.user, prompt_ids=allowed) is None  # nothing left in the set
    assert Vote.objects.filter(user=ada.user).count() == 6
