"""Where the events come from: a stored vote, a worker's stored refit, a prototype refit."""

from __future__ import annotations

import json
import random
import uuid

import pytest

from tests.factories import PairFactory, PromptFactory, ResponseFactory, UserFactory, refit_and_follow
from webapp.profiles.models import RewardProfile
from webapp.votes.services import VoteRejected, vote_record
from webapp.webhooks.models import WebhookDelivery
from webapp.webhooks.services import endpoint_create
from workers.features import bank_ensure
from workers.learning import prototypes_refit_run


def _payloads(event: str) -> list[dict[str, object]]:
    return [json.loads(d.body) for d in WebhookDelivery.objects.filter(event=event).order_by("id")]


@pytest.mark.django_db
def test_a_stored_vote_emits_vote_created_once_and_a_rejected_one_nothing() -> None:
    endpoint_create(url="http://127.0.0.1:9/a", events=["vote.created"])
    pair = PairFactory()
    key = uuid.uuid4()
    vote = vote_record(user=pair.user, pair_id=pair.pk, idempotency_key=key, choice="both_bad").vote
    vote_record(user=pair.user, pair_id=pair.pk, idempotency_key=key, choice="both_bad")  # replay
    with pytest.raises(VoteRejected):
        vote_record(user=pair.user, pair_id=pair.pk, idempotency_key=uuid.uuid4(), choice="left")
    (payload,) = _payloads("vote.created")
    assert payload["data"]["vote_id"] == vote.pk and payload["data"]["choice"] == "both_bad"
    assert payload["data"]["user_id"] == pair.user_id and payload["event"] == "vote.created"


@pytest.mark.django_db
def test_a_stored_refit_emits_profile_updated() -> None:
    endpoint_create(url="http://127.0.0.1:9/a", events=["profile.updated"])
    pair = PairFactory()
    vote_record(user=pair.user, pair_id=pair.pk, idempotency_key=uuid.uuid4(), choice="left")
    version = refit_and_follow(user_id=pair.user_id)
    assert refit_and_follow(user_id=pair.user_id) is None  # nothing new: no second event
    (payload,) = _payloads("profile.updated")
    data = payload["data"]
    assert (data["user_id"], data["version"], data["vote_count"]) == (pair.user_id, version, 1)
    assert len(data["weights"]) == len(data["axes"]) == 8


@pytest.mark.django_db
def test_a_prototype_refit_emits_prototype_changed() -> None:
    endpoint_create(url="http://127.0.0.1:9/a", events=["prototype.changed"])
    for _ in range(2):
        ResponseFactory.create_batch(3, prompt=PromptFactory())
    bank_id, _ = bank_ensure()
    rng = random.Random(0)
    for i in range(8):
        centre = [2.0, -1.0] if i % 2 else [-2.0, 1.0]
        RewardProfile.objects.create(user=UserFactory(), bank_id=bank_id, vote_count=10, version=1,
                                     weights=centre + [rng.gauss(0, 0.1) for _ in range(6)],
                                     covariance=[[0.1 * (a == b) for b in range(8)] for a in range(8)])
    k = prototypes_refit_run()
    (payload,) = _payloads("prototype.changed")
    assert payload["data"]["k"] == k >= 2 and payload["data"]["users"] == 8
    assert sum(p["size"] for p in payload["data"]["prototypes"]) == 8
