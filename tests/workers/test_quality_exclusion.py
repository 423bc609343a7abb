"""Flagged voters stay out of the shared base-reward refit; their own profile still learns from their votes."""

from __future__ import annotations

import uuid

import pytest

from tests.factories import PromptFactory, ResponseFactory, UserFactory
from webapp.profiles.models import BaseRewardBank, RewardProfile
from webapp.votes import services
from workers.learning import bank_refit_run
from workers.refit import profile_refit_run


@pytest.mark.django_db
def test_bank_refit_leaves_flagged_voters_out_but_their_profile_uses_all_their_votes(settings) -> None:
    import torch

    settings.TAILOR_QUALITY = {**settings.TAILOR_QUALITY, "min_gold_votes": 3, "min_gold_accuracy": 0.6}
    gen = torch.Generator().manual_seed(0)
    direction = torch.randn(384, generator=gen)
    groups = []
    for _ in range(6):
        prompt = PromptFactory()
        groups.append([ResponseFactory(prompt=prompt, axis_scores=[0.5] * 8,
                                       embedding=torch.randn(384, generator=gen).numpy().tobytes())
                       for _ in range(4)])

    def vote_all(user, sign: float) -> None:
        for group in groups:
            for a, b in ((group[0], group[1]), (group[2], group[3])):
                pair = services.pair_create(user=user, left=a, right=b, source="random")
                ea = torch.frombuffer(bytearray(a.embedding), dtype=torch.float32)
                eb = torch.frombuffer(bytearray(b.embedding), dtype=torch.float32)
                choice = "left" if sign * float((ea - eb) @ direction) > 0 else "right"
                services.vote_record(user=user, pair_id=pair.pk, idempotency_key=uuid.uuid4(), choice=choice)

    for index in range(8):
        vote_all(UserFactory(), 1.0 if index % 2 else -1.0)
    careless = UserFactory()
    vote_all(careless, 1.0)
    for _ in range(3):  # three gold pairs, each answered with the off-topic response
        good, off = ResponseFactory(prompt=groups[0][0].prompt), ResponseFactory(prompt=groups[1][0].prompt)
        gold = services.pair_create(user=careless, left=good, right=off, source="gold", expected=good)
        services.vote_record(user=careless, pair_id=gold.pk, idempotency_key=uuid.uuid4(), choice="right")

    assert bank_refit_run() == 2
    notes = BaseRewardBank.objects.get(is_active=True).notes
    assert "from 96 votes of 8 users (1 flagged voters left out)" in notes  # 8 users x 12 votes, not 9 x 12

    profile_refit_run(user_id=careless.pk)
    profile = RewardProfile.objects.get(user=careless)
    assert profile.vote_count == 15 and profile.bank.version == 2  # their own profile: every vote, the new bank
    assert any(abs(w) > 0.05 for w in profile.weights)  # and it learned from their 12 preference votes
