"""Quality control: per-voter figures with flags at configurable thresholds, Krippendorff's α per prototype,
and flagged voters left out of the shared base-reward refit but not of their own profile."""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.factories import PairFactory, PromptFactory, ResponseFactory, UserFactory
from tests.test_process_boundaries import _run
from tests.webapp.api.conftest import token_client
from webapp.profiles.models import RewardProfile
from webapp.prototypes.models import Prototype
from webapp.quality.config import quality_config_from
from webapp.quality.selectors import prototype_agreement, users_flagged, voters_quality
from webapp.votes.services import pair_create, vote_record


def _vote(pair, choice: str, ms: int | None = None) -> None:
    vote_record(user=pair.user, pair_id=pair.pk, idempotency_key=uuid.uuid4(), choice=choice, time_to_vote_ms=ms)


def _gold(user, *, right: bool) -> None:
    prompt, other = PromptFactory(), PromptFactory()
    good, off = ResponseFactory(prompt=prompt), ResponseFactory(prompt=other)
    pair = pair_create(user=user, left=good, right=off, source="gold", expected=good)
    _vote(pair, "left" if right else "right")


@pytest.mark.django_db
def test_a_voter_failing_gold_pairs_is_flagged_and_a_careful_one_is_not(settings) -> None:
    settings.TAILOR_QUALITY = {**settings.TAILOR_QUALITY, "min_gold_votes": 3, "min_gold_accuracy": 0.6}
    careless, careful, newcomer = UserFactory(), UserFactory(), UserFactory()
    for _ in range(3):
        _gold(careless, right=False)
        _gold(careful, right=True)
    _gold(newcomer, right=False)  # one miss is not enough evidence to flag anyone
    figures = {q.user_id: q for q in voters_quality()}
    assert figures[careless.pk].gold_accuracy == 0.0 and figures[careless.pk].flags == ["gold accuracy 0% < 60%"]
    assert figures[careful.pk].gold_accuracy == 1.0 and not figures[careful.pk].flagged
    assert figures[newcomer.pk].gold_votes == 1 and not figures[newcomer.pk].flagged
    assert users_flagged() == {careless.pk}


@pytest.mark.django_db
def test_always_left_fast_and_inconsistent_voters_are_flagged(settings) -> None:
    settings.TAILOR_QUALITY = {**settings.TAILOR_QUALITY, "min_sided_votes": 6, "max_side_share": 0.9,
                               "min_timed_votes": 6, "fast_vote_ms": 1000, "max_fast_share": 0.5,
                               "min_repeat_votes": 2, "min_repeat_consistency": 0.5}
    lefty, hasty, flipper = UserFactory(), UserFactory(), UserFactory()
    for i in range(6):
        _vote(PairFactory(user=lefty), "left", ms=5000)
        _vote(PairFactory(user=hasty), "left" if i % 2 else "right", ms=300)
    originals = []
    for i in range(6):
        pair = PairFactory(user=flipper)
        _vote(pair, "left" if i % 2 else "right", ms=4000)
        originals.append(pair)
    for original in originals[:2]:  # shown again with the sides swapped; the same side clicked = inconsistent
        repeat = pair_create(user=flipper, left=original.right, right=original.left, source="repeat",
                             repeat_of=original)
        _vote(repeat, original.vote.choice, ms=4000)
    figures = {q.user_id: q for q in voters_quality()}
    assert figures[lefty.pk].left_share == 1.0 and figures[lefty.pk].flags == ["position bias: 100% left > 90%"]
    assert figures[hasty.pk].fast_share == 1.0 and figures[hasty.pk].flags == ["100% of votes under 1000 ms > 50%"]
    assert figures[flipper.pk].repeat_consistency == 0.0 and figures[flipper.pk].flags == [
        "repeat consistency 0% < 50%"]


@pytest.mark.parametrize(("raw", "message"), [
    ({"min_gold_accuracy": 1.5}, "between 0 and 1"),
    ({"min_gold_votes": 0}, "whole number"),
    ({"max_side_share": 0.3}, "every voter"),
    ({"gold_thresh": 1}, "unknown"),
])
def test_bad_thresholds_are_refused(raw, message) -> None:
    with pytest.raises(ImproperlyConfigured, match=message):
        quality_config_from(raw)


def test_a_bad_threshold_stops_the_app_at_start_up(tmp_path) -> None:
    result = _run("import django; django.setup(); print('STARTED')", DJANGO_SETTINGS_MODULE="webapp.settings.base",
                  TAILOR_HOME=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
                  TAILOR_QC_MIN_GOLD_ACCURACY="1.5")
    assert result.returncode != 0 and "min_gold_accuracy" in result.stderr and "STARTED" not in result.stdout


@pytest.mark.django_db
def test_krippendorff_alpha_per_prototype_over_shared_pairs() -> None:
    import krippendorff
    import numpy as np

    agreeing, split = Prototype.objects.create(key=1), Prototype.objects.create(key=2)
    Prototype.objects.create(key=3)  # no members: no α
    prompt = PromptFactory()
    responses = ResponseFactory.create_batch(4, prompt=prompt)
    units = [(responses[0], responses[1]), (responses[2], responses[3]), (responses[0], responses[2])]
    expected_split = []
    for key, choices in ((1, [["left", "left", "right"]] * 3),
                         (2, [["left", "right", "tie"], ["right", "left", "left"], ["left", "left", "right"]])):
        for member_choices in choices:
            user = UserFactory()
            RewardProfile.objects.create(user=user, prototype_id=key)
            for (a, b), choice in zip(units, member_choices, strict=True):
                _vote(pair_create(user=user, left=a, right=b, source="random"), choice)
            if key == 2:
                expected_split.append([{"left": 1.0, "right": 3.0, "tie": 2.0}[c] for c in member_choices])
    result = {a.key: a for a in prototype_agreement()}
    assert result[agreeing.key].alpha == pytest.approx(1.0) and result[agreeing.key].units == 3
    reference = krippendorff.alpha(reliability_data=np.array(expected_split), level_of_measurement="ordinal")
    assert result[split.key].alpha == pytest.approx(reference) and result[split.key].alpha < 0.5
    assert result[3].alpha is None and result[3].members == 0


@pytest.mark.django_db
def test_staff_see_flagged_voters_over_the_api(settings) -> None:
    settings.TAILOR_QUALITY = {**settings.TAILOR_QUALITY, "min_gold_votes": 1}
    careless, careful = UserFactory(), UserFactory()
    _gold(careless, right=False)
    _gold(careful, right=True)
    staff = token_client(UserFactory(is_staff=True))
    flagged = staff.get("/api/v1/quality/voters/?flagged=true").json()
    assert [row["user_id"] for row in flagged] == [careless.pk] and flagged[0]["flags"]
    assert len(staff.get("/api/v1/quality/voters/").json()) == 2
    assert token_client(careful).get("/api/v1/quality/voters/").status_code == 403
