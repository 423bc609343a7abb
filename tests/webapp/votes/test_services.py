from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection

from tests.factories import PairFactory, UserFactory
from webapp.votes.models import Vote
from webapp.votes.services import VoteRejected, vote_record


@pytest.mark.django_db
def test_duplicate_vote_is_counted_once(django_capture_on_commit_callbacks) -> None:
    pair = PairFactory()
    key = uuid.uuid4()
    with django_capture_on_commit_callbacks() as first_callbacks:
        first = vote_record(user=pair.user, pair_id=pair.pk, idempotency_key=key, choice="left")
    second = vote_record(user=pair.user, pair_id=pair.pk, idempotency_key=key, choice="left")
    assert first.created and not second.created
    assert second.vote.pk == first.vote.pk
    assert Vote.objects.count() == 1
    assert len(first_callbacks) == 1  # one refit enqueued, for the stored vote only


@pytest.mark.django_db
def test_vote_stores_choice_strength_rationale_and_time() -> None:
    pair = PairFactory()
    result = vote_record(user=pair.user, pair_id=pair.pk, idempotency_key=uuid.uuid4(), choice="both_bad",
                         strength=3, rationale="  both dodge the question ", time_to_vote_ms=4200)
    vote = Vote.objects.get(pk=result.vote.pk)
    assert (vote.choice, vote.strength, vote.rationale, vote.time_to_vote_ms) == (
        "both_bad", 3, "both dodge the question", 4200)


@pytest.mark.django_db
def test_tie_and_both_bad_are_stored_distinctly() -> None:
    tie, bad = PairFactory(), PairFactory()
    vote_record(user=tie.user, pair_id=tie.pk, idempotency_key=uuid.uuid4(), choice="tie")
    vote_record(user=bad.user, pair_id=bad.pk, idempotency_key=uuid.uuid4(), choice="both_bad")
    assert sorted(Vote.objects.values_list("choice", flat=True)) == ["both_bad", "tie"]


@pytest.mark.django_db
def test_second_vote_on_the_same_pair_is_rejected() -> None:
    pair = PairFactory()
    vote_record(user=pair.user, pair_id=pair.pk, idempotency_key=uuid.uuid4(), choice="left")
    with pytest.raises(VoteRejected, match="already voted"):
        vote_record(user=pair.user, pair_id=pair.pk, idempotency_key=uuid.uuid4(), choice="right")
    assert Vote.objects.get().choice == "left"


@pytest.mark.django_db
def test_cannot_vote_on_a_pair_shown_to_someone_else() -> None:
    pair = PairFactory()
    with pytest.raises(VoteRejected, match="not shown to you"):
        vote_record(user=UserFactory(), pair_id=pair.pk, idempotency_key=uuid.uuid4(), choice="left")
    assert not Vote.objects.exists()


@pytest.mark.django_db
def test_idempotency_key_of_another_vote_is_rejected() -> None:
    a, b = PairFactory(), PairFactory()
    key = uuid.uuid4()
    vote_record(user=a.user, pair_id=a.pk, idempotency_key=key, choice="left")
    with pytest.raises(VoteRejected, match="another vote"):
        vote_record(user=b.user, pair_id=b.pk, idempotency_key=key, choice="left")


@pytest.mark.django_db
@pytest.mark.parametrize("kwargs", [
    {"choice": "maybe"}, {"choice": "left", "strength": 7}, {"choice": "left", "rationale": "x" * 281},
    {"choice": "left", "time_to_vote_ms": -5},
])
def test_bad_input_is_rejected_and_nothing_is_stored(kwargs) -> None:
    pair = PairFactory()
    with pytest.raises(VoteRejected):
        vote_record(user=pair.user, pair_id=pair.pk, idempotency_key=uuid.uuid4(), **kwargs)
    assert not Vote.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_store_exactly_one_vote() -> None:
    """Eight threads submit at once, half with the same key and half with fresh keys, on one pair."""
    pair = PairFactory()
    shared_key = uuid.uuid4()
    barrier = threading.Barrier(8)
    outcomes: list[str] = []
    lock = threading.Lock()

    def submit(i: int) -> None:
        key = shared_key if i % 2 == 0 else uuid.uuid4()
        barrier.wait()
        try:
            result = vote_record(user=pair.user, pair_id=pair.pk, idempotency_key=key, choice="left")
            outcome = "created" if result.created else "replayed"
        except VoteRejected:
            outcome = "rejected"
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Vote.objects.filter(pair=pair).count() == 1
    assert outcomes.count("created") == 1
    assert len(outcomes) == 8
