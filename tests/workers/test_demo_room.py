"""Demo rooms on the worker side: each participant's showcase answer follows their refit, the presenter screen is
pushed, and the reveal picks the best candidate per taste of the room (best-of-N) next to the default answer."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import wait_until
from tests.factories import ResponseFactory, UserFactory, refit_and_follow
from tests.webapp.demos.factories_demo import SCORES, join, scored_pool, session
from webapp.demos import services as demo_services
from webapp.demos.models import DemoSession, Participant
from webapp.profiles.models import RewardProfile
from webapp.votes import selectors as vote_selectors
from webapp.votes.services import vote_record
from workers.demo_room import demo_reveal_run, participant_refitted
from workers.features import bank_ensure

CONCISE, STEPS = SCORES[0][0], SCORES[1][0]
DEFAULT = "Water it when the soil is dry."


def _room() -> DemoSession:
    ids = scored_pool(prompts=2)
    ResponseFactory(prompt_id=ids[0], text=DEFAULT, style="default", axis_scores=[0.5] * 8)
    demo = session(prompt_ids=ids)
    assert demo.showcase_prompt_id == ids[0]  # the prompt with the most answers
    demo_services.session_stage_advance(session_id=demo.pk, user=demo.presenter, to_stage="voting")
    return demo


def _vote_all(demo: DemoSession, participant: Participant, favourite: str, axis: int) -> None:
    """Every pair of the session: the favourite text when shown, else the answer higher on ``axis``."""
    prompts = set(demo.prompts.values_list("pk", flat=True))
    while (pair := vote_selectors.pair_next(user=participant.user, prompt_ids=prompts)) is not None:
        left, right = pair.left, pair.right
        if favourite in (left.text, right.text):
            choice = "left" if left.text == favourite else "right"
        else:
            choice = "left" if left.axis_scores[axis] >= right.axis_scores[axis] else "right"
        vote_record(user=participant.user, pair_id=pair.pk, idempotency_key=uuid.uuid4(), choice=choice)


@pytest.mark.django_db
def test_each_participant_gets_the_showcase_answer_for_their_taste_and_the_reveal_shows_the_room() -> None:
    demo = _room()
    ada, bob = join(demo, "Ada"), join(demo, "Bob")
    _vote_all(demo, ada, CONCISE, axis=0)
    _vote_all(demo, bob, STEPS, axis=1)
    before = DemoSession.objects.get(pk=demo.pk).push_version
    for participant in (ada, bob):
        assert refit_and_follow(user_id=participant.user_id) is not None
        participant.refresh_from_db()
    assert ada.showcase_response.text == CONCISE and bob.showcase_response.text == STEPS
    assert DemoSession.objects.get(pk=demo.pk).push_version == before + 2  # one presenter push per refit

    demo_services.session_stage_advance(session_id=demo.pk, user=demo.presenter, to_stage="reveal")
    assert demo_reveal_run(session_id=demo.pk) == "done"
    reveal = DemoSession.objects.get(pk=demo.pk).reveal
    assert reveal["status"] == "done" and reveal["default"] == DEFAULT
    # two voters are too few for the library's prototypes (it needs 4), so the room's tastes stand in, each labelled
    assert {(a["label"], a["text"]) for a in reveal["answers"]} == {("Ada's taste", CONCISE), ("Bob's taste", STEPS)}
    assert all(a["text"] != DEFAULT for a in reveal["answers"])  # the default is never a personalized answer
    assert "best of the prompt's 3 stored candidates" in reveal["method"]


@pytest.mark.django_db
def test_the_refit_renders_the_participants_own_panel_for_their_socket() -> None:
    """The worker that refits a participant renders their panel (the web process then only forwards it): it shows
    the showcase answer their votes just picked; a user outside any open room gets nothing."""
    demo = _room()
    ada = join(demo, "Ada")
    _vote_all(demo, ada, CONCISE, axis=0)
    _, bank = bank_ensure()
    steps_taste = [0.0] * bank.dim
    steps_taste[0], steps_taste[1] = -1.0, 1.0  # against brevity, for steps
    participant_id, html = participant_refitted(user_id=ada.user_id, bank=bank, weights=steps_taste) or (0, "")
    assert participant_id == ada.pk and 'id="demo-me"' in html and 'hx-swap-oob="true"' in html
    assert 'data-testid="profile-panel"' in html and 'data-testid="showcase-answer"' in html
    assert "Check the soil" in html and CONCISE not in html
    assert refit_and_follow(user_id=ada.user_id) is not None  # the real refit: Ada's taste picks the concise one
    weights = RewardProfile.objects.get(user_id=ada.user_id).weights
    _, html = participant_refitted(user_id=ada.user_id, bank=bank, weights=weights) or (0, "")
    assert CONCISE in html
    assert participant_refitted(user_id=UserFactory().pk, bank=bank, weights=[0.0] * bank.dim) is None


@pytest.mark.django_db
def test_the_reveal_of_a_gone_or_unrevealed_session_does_nothing() -> None:
    demo = _room()
    assert demo_reveal_run(session_id=demo.pk) == "skipped"  # still voting
    assert demo_reveal_run(session_id=10**9) == "skipped"
    assert DemoSession.objects.get(pk=demo.pk).reveal == {}


@pytest.mark.django_db(transaction=True)
def test_votes_and_the_reveal_flow_through_the_real_worker(celery_worker_live) -> None:
    demo = _room()
    ada = join(demo, "Ada")
    _vote_all(demo, ada, CONCISE, axis=0)
    newest = ada.user.votes.order_by("-id").values_list("id", flat=True).first()

    def caught_up() -> bool:
        # the worker refits while the votes are still being cast: an early refit may pick another answer
        participant = Participant.objects.select_related("showcase_response").get(pk=ada.pk)
        fitted = RewardProfile.objects.filter(user_id=ada.user_id).values_list("fitted_vote_id", flat=True).first()
        return fitted == newest and participant.showcase_response is not None and (
            participant.showcase_response.text == CONCISE)

    assert wait_until(caught_up, timeout=60)
    demo_services.session_stage_advance(session_id=demo.pk, user=demo.presenter, to_stage="reveal")
    assert wait_until(lambda: DemoSession.objects.get(pk=demo.pk).reveal.get("status") == "done", timeout=60)
    assert DemoSession.objects.get(pk=demo.pk).reveal["answers"][0]["text"] == CONCISE


@pytest.mark.django_db
def test_active_suggestions_for_a_guest_stay_within_the_session_prompts() -> None:
    from webapp.catalog.models import Response
    from webapp.profiles.models import RewardProfile

    ids = scored_pool(prompts=8)
    Response.objects.update(embedding=b"\x00" * 16)  # the pool the active selector reads needs stored embeddings
    demo = session(prompt_ids=ids[:2])
    demo_services.session_stage_advance(session_id=demo.pk, user=demo.presenter, to_stage="voting")
    ada = join(demo, "Ada")
    pair = vote_selectors.pair_next(user=ada.user, prompt_ids=set(ids[:2]))
    vote_record(user=ada.user, pair_id=pair.pk, idempotency_key=uuid.uuid4(), choice="left")
    refit_and_follow(user_id=ada.user_id)
    suggested = RewardProfile.objects.get(user_id=ada.user_id).suggested_pairs
    allowed = set(Response.objects.filter(prompt_id__in=ids[:2]).values_list("pk", flat=True))
    assert suggested and all(set(p) <= allowed for p in suggested)


@pytest.mark.slow
@pytest.mark.django_db
def test_without_a_stored_default_the_real_model_writes_the_default_answer_once() -> None:
    ids = scored_pool(prompts=2)
    demo = session(prompt_ids=ids)
    from workers.demo_room import demo_prepare_run

    assert demo_prepare_run(session_id=demo.pk) is True
    first = DemoSession.objects.get(pk=demo.pk).default_answer
    assert len(first.split()) >= 3  # SmolLM2 answered the showcase prompt
    assert demo_prepare_run(session_id=demo.pk) is True
    assert DemoSession.objects.get(pk=demo.pk).default_answer == first  # written once, kept for the reveal


@pytest.mark.django_db
def test_the_reveal_speaks_for_the_rooms_prototypes_when_the_library_has_them() -> None:
    from webapp.profiles.models import RewardProfile
    from webapp.prototypes.models import Prototype

    demo = _room()
    ada, bob = join(demo, "Ada"), join(demo, "Bob")
    _vote_all(demo, ada, CONCISE, axis=0)
    _vote_all(demo, bob, CONCISE, axis=0)
    for participant in (ada, bob):
        refit_and_follow(user_id=participant.user_id)
    profile = RewardProfile.objects.get(user_id=ada.user_id)
    Prototype.objects.create(key=7, name="Brief", bank_id=profile.bank_id, mean=profile.weights, size=2,
                             summary="Prefers short answers.")
    RewardProfile.objects.filter(user_id__in=[ada.user_id, bob.user_id]).update(prototype_id=7)
    demo_services.session_stage_advance(session_id=demo.pk, user=demo.presenter, to_stage="reveal")
    assert demo_reveal_run(session_id=demo.pk) == "done"
    answers = DemoSession.objects.get(pk=demo.pk).reveal["answers"]
    assert [(a["label"], a["kind"], a["members"], a["text"]) for a in answers] == [
        ("Brief", "prototype", 2, CONCISE)]  # both are its members, so no individual taste is added
