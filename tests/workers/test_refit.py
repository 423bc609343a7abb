from __future__ import annotations

import uuid

import pytest

from tests.conftest import wait_until
from tests.factories import PromptFactory, ResponseFactory, UserFactory
from webapp.profiles.models import ProfileSnapshot, RewardProfile
from webapp.votes import services
from webapp.votes.models import Vote
from workers.features import bank_ensure
from workers.refit import profile_refit_run

BREVITY = 0


def _vote_for_shorter(user, n: int, *, choice_when_left_shorter: str = "left") -> None:
    """n votes where the user always prefers the answer with the higher brevity score."""
    for i in range(n):
        prompt = PromptFactory()
        short = ResponseFactory(prompt=prompt, axis_scores=[0.9, *([0.5] * 7)])
        long = ResponseFactory(prompt=prompt, axis_scores=[0.1, *([0.5] * 7)])
        left, right = (short, long) if i % 2 == 0 else (long, short)
        pair = services.pair_create(user=user, left=left, right=right, source="random")
        choice = choice_when_left_shorter if left is short else "right"
        services.vote_record(user=user, pair_id=pair.pk, idempotency_key=uuid.uuid4(), choice=choice)


@pytest.mark.django_db
def test_refit_learns_the_direction_of_the_votes() -> None:
    user = UserFactory()
    _vote_for_shorter(user, 8)
    ResponseFactory(axis_scores=[0.5] * 8)  # the pool the bank standardises over
    version = profile_refit_run(user_id=user.pk)
    profile = RewardProfile.objects.get(user=user)
    assert version == 1 == profile.version
    assert profile.vote_count == 8
    assert profile.weights[BREVITY] > 0.5
    assert profile.fitted_vote_id == Vote.objects.filter(user=user).latest("id").pk
    assert ProfileSnapshot.objects.filter(profile=profile, version=1).exists()


@pytest.mark.django_db
def test_refit_is_idempotent() -> None:
    user = UserFactory()
    _vote_for_shorter(user, 3)
    assert profile_refit_run(user_id=user.pk) == 1
    assert profile_refit_run(user_id=user.pk) is None  # nothing new: nothing stored, nothing pushed
    assert RewardProfile.objects.get(user=user).version == 1


@pytest.mark.django_db
def test_a_refit_costs_a_bounded_number_of_queries(django_assert_max_num_queries) -> None:
    """One refit per vote is the worker's hot path: its queries do not grow with the user's votes, and a refit
    with nothing new to fit stops after its first reads."""
    user = UserFactory()
    ResponseFactory(axis_scores=[0.5] * 8)
    bank_ensure()  # the first refit ever also writes the bank
    for n in (4, 8):
        _vote_for_shorter(user, 4)
        with django_assert_max_num_queries(QUERIES_PER_REFIT):
            assert profile_refit_run(user_id=user.pk) is not None
        assert RewardProfile.objects.get(user=user).vote_count == n
    with django_assert_max_num_queries(3):  # the votes, the profile, the active bank's id
        assert profile_refit_run(user_id=user.pk) is None


#: measured on PostgreSQL, inside the test's transaction (atomic blocks count SAVEPOINT/RELEASE)
QUERIES_PER_REFIT = 22


@pytest.mark.django_db
def test_two_workers_creating_the_first_bank_at_once_both_refit(monkeypatch) -> None:
    """A room's first votes are refitted by two worker processes at once: the one that loses the race to write
    bank version 1 uses the winner's bank instead of failing its refit (a lost refit left a vote off the map)."""
    from webapp.profiles import selectors as profile_selectors

    user = UserFactory()
    _vote_for_shorter(user, 3)
    winner_id, _ = bank_ensure()  # the other process's bank
    real = profile_selectors.bank_active
    calls = []

    def not_yet_visible():
        calls.append(1)
        return None if len(calls) == 1 else real()  # our first look came just before the other's commit

    monkeypatch.setattr(profile_selectors, "bank_active", not_yet_visible)
    assert bank_ensure()[0] == winner_id
    assert profile_refit_run(user_id=user.pk) == 1
    assert RewardProfile.objects.get(user=user).bank_id == winner_id


@pytest.mark.django_db
def test_both_bad_votes_count_but_carry_no_preference() -> None:
    user = UserFactory()
    _vote_for_shorter(user, 4, choice_when_left_shorter="both_bad")
    profile_refit_run(user_id=user.pk)
    profile = RewardProfile.objects.get(user=user)
    assert profile.vote_count == 4
    # only the two "right" votes (for the shorter answer on the right) move the weights
    assert 0 < profile.weights[BREVITY]


@pytest.mark.django_db
def test_refit_of_a_deleted_user_exits_quietly() -> None:
    assert profile_refit_run(user_id=987654) is None


@pytest.mark.django_db
def test_a_stale_claim_stores_nothing() -> None:
    from webapp.profiles.services import ProfileFit, profile_fit_store

    user = UserFactory()
    _vote_for_shorter(user, 2)
    profile_refit_run(user_id=user.pk)
    fit = ProfileFit(bank_id=RewardProfile.objects.get(user=user).bank_id, weights=[9.0] * 8,
                     covariance=[[1.0 if i == j else 0.0 for j in range(8)] for i in range(8)], vote_count=99,
                     fitted_vote_id=0, suggested_pairs=[])
    assert profile_fit_store(user_id=user.pk, expected_version=0, fit=fit) is None
    assert RewardProfile.objects.get(user=user).vote_count == 2


@pytest.mark.django_db(transaction=True)
def test_worker_refits_after_a_vote(celery_worker_live) -> None:
    user = UserFactory()
    _vote_for_shorter(user, 2)
    assert wait_until(lambda: RewardProfile.objects.filter(user=user, vote_count=2).exists())


@pytest.mark.django_db(transaction=True)
def test_reconciler_recovers_a_lost_refit_task(broker_clean) -> None:
    """The refit task is dropped from the broker before any worker sees it; the reconciler re-enqueues it."""
    from celery.contrib.testing.worker import start_worker

    from workers.celery_app import ALL_QUEUES, app
    from workers.contracts import PROFILES_RECONCILE

    user = UserFactory()
    _vote_for_shorter(user, 3)  # three refits enqueued on commit...
    app.control.purge()  # ...and lost, as with a broker restart or a worker killed before acking
    assert not RewardProfile.objects.filter(user=user).exists()
    with start_worker(app, pool="solo", perform_ping_check=False, queues=ALL_QUEUES, loglevel="WARNING"):
        # what beat sends every RECONCILE_INTERVAL_SECONDS; the first rounds find the lost task's coalescing key
        # (it outlives the task: REFIT_COALESCE_SECONDS), a later one sends the refit
        def reconciled() -> bool:
            app.send_task(PROFILES_RECONCILE)
            return RewardProfile.objects.filter(user=user, vote_count=3).exists()

        assert wait_until(reconciled, timeout=30, interval=0.5)


def test_beat_schedules_the_reconciler() -> None:
    from workers.celery_app import app

    app.loader.import_default_modules()
    app.finalize()
    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "tailor.profiles_reconcile" in tasks
