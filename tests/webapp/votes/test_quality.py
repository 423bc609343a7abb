from __future__ import annotations

import random
import uuid

import pytest
from django.utils import timezone

from tests.factories import PairFactory, PromptFactory, ResponseFactory, UserFactory
from webapp.votes import selectors, services
from webapp.votes.models import Pair, Vote


def _vote(pair: Pair, choice: str) -> Vote:
    return services.vote_record(user=pair.user, pair_id=pair.pk, idempotency_key=uuid.uuid4(), choice=choice).vote


@pytest.mark.django_db
def test_gold_pair_puts_an_on_topic_answer_against_an_off_topic_one(settings) -> None:
    settings.TAILOR_GOLD_PAIR_RATE = 1.0
    user = UserFactory()
    for _ in range(3):
        ResponseFactory.create_batch(2, prompt=PromptFactory())
    pair = selectors.pair_next(user=user, rng=random.Random(1))
    assert pair.source == Pair.Source.GOLD
    assert pair.expected_id in (pair.left_id, pair.right_id)
    assert pair.left.prompt_id != pair.right.prompt_id
    assert pair.prompt_id == pair.expected.prompt_id


@pytest.mark.django_db
def test_quality_counts_gold_accuracy_repeat_consistency_and_position_bias() -> None:
    user = UserFactory()
    prompt, other = PromptFactory(), PromptFactory()
    good, off = ResponseFactory(prompt=prompt), ResponseFactory(prompt=other)
    gold = services.pair_create(user=user, left=off, right=good, source="gold", expected=good)
    _vote(gold, "right")  # right answer
    original = PairFactory(user=user)
    _vote(original, "left")
    repeat = services.pair_create(user=user, left=original.right, right=original.left, source="repeat",
                                  repeat_of=original)
    _vote(repeat, "right")  # the same response again, now on the right: consistent
    quality = selectors.quality_get(user_id=user.pk)
    assert (quality.gold_votes, quality.gold_accuracy) == (1, 1.0)
    assert (quality.repeat_votes, quality.repeat_consistency) == (1, 1.0)
    assert quality.left_share == pytest.approx(1 / 3)


@pytest.mark.django_db
def test_repeat_pair_swaps_the_sides_of_an_old_pair(settings) -> None:
    settings.TAILOR_REPEAT_PAIR_RATE = 1.0
    user = UserFactory()
    originals = [PairFactory(user=user) for _ in range(selectors.REPEAT_MIN_GAP + 1)]
    for pair in originals:
        _vote(pair, "left")
    pair = selectors.pair_next(user=user, rng=random.Random(0))
    assert pair.source == Pair.Source.REPEAT
    assert (pair.left_id, pair.right_id) == (pair.repeat_of.right_id, pair.repeat_of.left_id)


@pytest.mark.django_db
def test_gold_and_repeat_votes_stay_out_of_the_fit() -> None:
    user = UserFactory()
    _vote(PairFactory(user=user), "left")
    gold_prompt = PromptFactory()
    good = ResponseFactory(prompt=gold_prompt)
    gold = services.pair_create(user=user, left=good, right=ResponseFactory(), source="gold", expected=good)
    _vote(gold, "left")
    newest = Vote.objects.latest("id").pk
    assert len(selectors.votes_for_fit(user_id=user.pk, up_to_id=newest)) == 1


@pytest.mark.django_db
def test_skipped_pair_is_not_shown_again_and_cannot_be_voted() -> None:
    pair = PairFactory()
    assert services.pair_skip(user=pair.user, pair_id=pair.pk)
    assert selectors.pair_pending(user=pair.user) is None
    with pytest.raises(services.VoteRejected, match="skipped"):
        _vote(pair, "left")


@pytest.mark.django_db
def test_undo_only_the_latest_vote_and_only_for_a_few_seconds() -> None:
    user = UserFactory()
    first, second = PairFactory(user=user), PairFactory(user=user)
    v1, v2 = _vote(first, "left"), _vote(second, "right")
    with pytest.raises(services.VoteRejected, match="latest"):
        services.vote_undo(user=user, vote_id=v1.pk)
    Vote.objects.filter(pk=v2.pk).update(created_at=timezone.now() - timezone.timedelta(seconds=60))
    with pytest.raises(services.VoteRejected, match="within"):
        services.vote_undo(user=user, vote_id=v2.pk)
    Vote.objects.filter(pk=v2.pk).update(created_at=timezone.now())
    assert services.vote_undo(user=user, vote_id=v2.pk).pk == second.pk
    assert list(Vote.objects.values_list("pk", flat=True)) == [v1.pk]
    assert selectors.pair_pending(user=user).pk == second.pk


@pytest.mark.django_db
def test_someone_elses_vote_cannot_be_undone() -> None:
    pair = PairFactory()
    vote = _vote(pair, "left")
    with pytest.raises(services.VoteRejected):
        services.vote_undo(user=UserFactory(), vote_id=vote.pk)
    assert Vote.objects.filter(pk=vote.pk).exists()
