"""Refit coalescing: a burst of votes while a user's refit waits is that one refit, and it covers every vote; the
follow-ups (suggestions, summary, pushes) hang off the refit as one coalesced task of their own."""

from __future__ import annotations

import pytest
from django.conf import settings

from tests.conftest import wait_until
from tests.factories import UserFactory
from tests.workers.test_refit import _vote_for_shorter
from webapp.profiles.models import ProfileSnapshot, RewardProfile
from webapp.votes.models import Vote
from workers import contracts


def _queued(queue: str) -> list[str]:
    """Task names waiting in a queue of the real broker (Redis lists named after the queue)."""
    import json

    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    return [json.loads(raw)["headers"]["task"] for raw in client.lrange(queue, 0, -1)]


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_votes_is_one_refit_that_covers_every_vote(broker_clean) -> None:
    from celery.contrib.testing.worker import start_worker

    from workers.celery_app import ALL_QUEUES, app

    user = UserFactory()
    _vote_for_shorter(user, 6)  # six committed votes, no worker running: today six refits were queued
    assert _queued(str(contracts.WorkClass.REALTIME)).count(contracts.PROFILE_REFIT) == 1
    newest = Vote.objects.filter(user=user).order_by("-id").values_list("id", flat=True).first()
    with start_worker(app, pool="solo", perform_ping_check=False, queues=ALL_QUEUES, loglevel="WARNING"):
        assert wait_until(lambda: RewardProfile.objects.filter(user=user, fitted_vote_id=newest).exists())
        profile = RewardProfile.objects.get(user=user)
        assert profile.vote_count == 6 and profile.version == 1  # one refit, all six votes
        assert ProfileSnapshot.objects.filter(profile=profile).count() == 1
        # the follow-up ran after it, off the refit's path: next pairs and the summary of the new weights
        assert wait_until(lambda: RewardProfile.objects.get(user=user).summary.startswith("You prefer"))
        _vote_for_shorter(user, 1)  # a vote after the refit started queues the next one
        assert wait_until(lambda: RewardProfile.objects.filter(user=user, vote_count=7).exists())
    assert RewardProfile.objects.get(user=user).version == 2


@pytest.mark.django_db
def test_the_refit_itself_does_no_follow_up_work() -> None:
    """The refit stores the weights and queues the follow-up; the suggestions and the summary are not on its
    path (every vote used to pay for them)."""
    from workers.refit import profile_refit_run

    user = UserFactory()
    _vote_for_shorter(user, 4)
    assert profile_refit_run(user_id=user.pk) == 1
    profile = RewardProfile.objects.get(user=user)
    assert profile.weights and profile.summary == "" and profile.suggested_pairs == []

    from workers.follow import profile_follow_run

    assert profile_follow_run(user_id=user.pk)
    profile.refresh_from_db()
    assert profile.summary.startswith("You prefer") and profile.summary_weights == profile.weights
    assert profile.version == 1  # the follow-up does not bump the version: the weights did not change
