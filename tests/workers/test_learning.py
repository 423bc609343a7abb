from __future__ import annotations

import random
import uuid

import pytest

from tests.factories import PromptFactory, ResponseFactory, UserFactory, refit_and_follow
from webapp.profiles.models import BaseRewardBank, RewardProfile
from webapp.prototypes.models import Prototype, PrototypeFit
from webapp.votes import selectors, services
from webapp.votes.models import Pair
from workers.features import bank_ensure
from workers.learning import prototypes_refit_run


def _pool(prompts: int = 6) -> None:
    rng = random.Random(0)
    for _ in range(prompts):
        prompt = PromptFactory()
        for _ in range(4):
            ResponseFactory(prompt=prompt, axis_scores=[rng.random() for _ in range(8)], embedding=bytes(384 * 4))


@pytest.mark.django_db
def test_refit_queues_informative_pairs_and_the_next_pair_uses_them(settings) -> None:
    settings.TAILOR_RANDOM_PAIR_RATE = 0.0
    _pool()
    user = UserFactory()
    pair = selectors.pair_next(user=user, rng=random.Random(0))
    services.vote_record(user=user, pair_id=pair.pk, idempotency_key=uuid.uuid4(), choice="left")
    refit_and_follow(user_id=user.pk)
    profile = RewardProfile.objects.get(user=user)
    assert len(profile.suggested_pairs) >= 4
    assert all(frozenset(p) != frozenset((pair.left_id, pair.right_id)) for p in profile.suggested_pairs)
    nxt = selectors.pair_next(user=user, rng=random.Random(1))
    assert nxt.source == Pair.Source.ACTIVE
    assert [nxt.left_id, nxt.right_id] in profile.suggested_pairs or \
        [nxt.right_id, nxt.left_id] in profile.suggested_pairs


@pytest.mark.django_db
def test_refit_writes_a_grounded_summary_unless_the_user_edited_it() -> None:
    _pool()
    user = UserFactory()
    for _ in range(4):
        pair = selectors.pair_next(user=user, rng=random.Random(2))
        services.vote_record(user=user, pair_id=pair.pk, idempotency_key=uuid.uuid4(), choice="left", strength=3)
    refit_and_follow(user_id=user.pk)
    profile = RewardProfile.objects.get(user=user)
    assert profile.summary.startswith("You prefer")
    RewardProfile.objects.filter(user=user).update(summary="Mine, hand written.", summary_edited=True)
    pair = selectors.pair_next(user=user, rng=random.Random(3))
    services.vote_record(user=user, pair_id=pair.pk, idempotency_key=uuid.uuid4(), choice="right")
    refit_and_follow(user_id=user.pk)
    assert RewardProfile.objects.get(user=user).summary == "Mine, hand written."


@pytest.mark.django_db
def test_prototypes_cluster_users_and_keep_their_ids_across_refits() -> None:
    _pool(2)
    bank_id, _ = bank_ensure()
    rng = random.Random(0)
    users = []
    for i in range(12):
        user = UserFactory()
        centre = [2.0, -1.0] if i % 2 else [-2.0, 1.0]
        weights = centre + [rng.gauss(0, 0.1) for _ in range(6)]
        weights[0] += rng.gauss(0, 0.2)
        eye = [[0.1 if a == b else 0.0 for b in range(8)] for a in range(8)]
        RewardProfile.objects.create(user=user, bank_id=bank_id, weights=weights, covariance=eye, vote_count=10,
                                     version=1)
        users.append(user)
    assert prototypes_refit_run() >= 2
    first = {p.user_id: p.prototype_id for p in RewardProfile.objects.all()}
    assert first[users[0].pk] != first[users[1].pk] and first[users[0].pk] == first[users[2].pk]
    assert Prototype.objects.exclude(summary="").count() >= 2
    Prototype.objects.filter(key=first[users[0].pk]).update(name="Plain and detailed")
    prototypes_refit_run()  # same users: the same clusters keep their keys, names and summaries
    second = {p.user_id: p.prototype_id for p in RewardProfile.objects.all()}
    assert second == first
    assert PrototypeFit.objects.count() == 2
    assert Prototype.objects.get(key=first[users[0].pk]).name == "Plain and detailed"
    assert all(0.0 <= p.prototype_confidence <= 1.0 for p in RewardProfile.objects.all())
    assert BaseRewardBank.objects.count() == 1


@pytest.mark.django_db
def test_an_edited_summary_nudges_the_prior_and_says_what_changed(django_capture_on_commit_callbacks) -> None:
    from webapp.profiles.services import SummaryRejected, summary_edit
    from workers.refit import summary_apply_run

    _pool()
    user = UserFactory()
    pair = selectors.pair_next(user=user, rng=random.Random(0))
    services.vote_record(user=user, pair_id=pair.pk, idempotency_key=uuid.uuid4(), choice="tie")
    refit_and_follow(user_id=user.pk)
    before = RewardProfile.objects.get(user=user).weights
    with pytest.raises(SummaryRejected):
        summary_edit(user_id=user.pk, text="x" * 601)
    with django_capture_on_commit_callbacks() as callbacks:
        summary_edit(user_id=user.pk, text="I want short answers and I don't want jokes.")
    assert len(callbacks) == 1  # the worker job that reads it onto the axes
    summary_apply_run(user_id=user.pk)
    profile = RewardProfile.objects.get(user=user)
    assert profile.summary_edited and profile.summary.startswith("I want short")
    assert profile.summary_axes["brevity"] > 0 and profile.summary_axes["humour"] < 0
    names = profile.bank.names
    assert profile.weights[names.index("brevity")] > before[names.index("brevity")]
    assert profile.weights[names.index("humour")] < before[names.index("humour")]


@pytest.mark.django_db
@pytest.mark.parametrize("bases", ["mixture", "factorization"])
def test_bank_refit_learns_latent_bases_and_profiles_move_onto_the_new_bank(settings, bases: str) -> None:
    import torch

    from workers.config import worker_config

    settings.PERSONALIZATION = {**settings.PERSONALIZATION, "bank_bases": bases}
    worker_config.cache_clear()

    from webapp.profiles.selectors import profiles_behind
    from workers.learning import bank_refit_run

    gen = torch.Generator().manual_seed(0)
    direction = torch.randn(384, generator=gen)
    prompts = [PromptFactory() for _ in range(12)]
    responses = []
    for prompt in prompts:
        for _ in range(4):
            vector = torch.randn(384, generator=gen)
            responses.append(ResponseFactory(prompt=prompt, axis_scores=[0.5] * 8,
                                             embedding=vector.numpy().tobytes()))
    by_prompt = {}
    for r in responses:
        by_prompt.setdefault(r.prompt_id, []).append(r)
    users = [UserFactory() for _ in range(10)]
    for u_index, user in enumerate(users):
        sign = 1.0 if u_index % 2 else -1.0  # two kinds of users, seen only through the embeddings
        for group in by_prompt.values():
            for a, b in ((group[0], group[1]), (group[2], group[3])):
                pair = services.pair_create(user=user, left=a, right=b, source="random")
                ea = torch.frombuffer(bytearray(a.embedding), dtype=torch.float32)
                eb = torch.frombuffer(bytearray(b.embedding), dtype=torch.float32)
                choice = "left" if sign * float((ea - eb) @ direction) > 0 else "right"
                services.vote_record(user=user, pair_id=pair.pk, idempotency_key=uuid.uuid4(), choice=choice)
        refit_and_follow(user_id=user.pk)
    assert profiles_behind() == []
    version = bank_refit_run()
    assert version == 2
    active = BaseRewardBank.objects.get(is_active=True)
    assert active.version == 2 and len(active.names) > 8 and active.names[8].startswith("latent")
    assert set(profiles_behind()) == {u.pk for u in users}  # every profile now refits onto bank v2
    assert len(active.state["prior"]["mean"]) == len(active.names)  # MRM prior learned with the bank
    refit_and_follow(user_id=users[0].pk)
    profile = RewardProfile.objects.get(user=users[0])
    assert profile.bank_id == active.pk and len(profile.weights) == len(active.names)
    newcomer = UserFactory()  # no votes yet: the profile is the meta-learned prior itself
    pair = services.pair_create(user=newcomer, left=responses[0], right=responses[1], source="random")
    services.vote_record(user=newcomer, pair_id=pair.pk, idempotency_key=uuid.uuid4(), choice="both_bad")
    refit_and_follow(user_id=newcomer.pk)
    fresh = RewardProfile.objects.get(user=newcomer)
    assert fresh.weights == pytest.approx(active.state["prior"]["mean"])
    assert bases.replace("factorization", "low-rank") in active.notes
    worker_config.cache_clear()


def _two_camps(bank_id: int, seed: int) -> None:
    """12 confident profiles in two camps: brief and unstructured, or wordy and structured."""
    rng = random.Random(seed)
    eye = [[0.05 if a == b else 0.0 for b in range(8)] for a in range(8)]
    for i in range(12):
        centre = [3.0, -2.0] if i % 2 else [-3.0, 2.0]
        weights = centre + [rng.gauss(0, 0.1) for _ in range(6)]
        RewardProfile.objects.create(user=UserFactory(), bank_id=bank_id, weights=weights, covariance=eye,
                                     vote_count=10, version=1)


def _newcomer_prefers_brief() -> RewardProfile:
    """A new user whose one vote prefers the brief, unstructured answer, refitted."""
    newcomer = UserFactory()
    prompt = PromptFactory()
    brief = ResponseFactory(prompt=prompt, axis_scores=[0.9, 0.1, *([0.5] * 6)])
    wordy = ResponseFactory(prompt=prompt, axis_scores=[0.1, 0.9, *([0.5] * 6)])
    pair = services.pair_create(user=newcomer, left=brief, right=wordy, source="random")
    services.vote_record(user=newcomer, pair_id=pair.pk, idempotency_key=uuid.uuid4(), choice="left")
    refit_and_follow(user_id=newcomer.pk)
    return RewardProfile.objects.get(user=newcomer)


@pytest.mark.django_db
def test_a_newcomer_borrows_from_the_prototypes_until_they_have_enough_votes() -> None:
    _pool(2)
    bank_id, _ = bank_ensure()
    _two_camps(bank_id, seed=1)
    prototypes_refit_run()
    weights = _newcomer_prefers_brief().weights
    # one vote for the brief, unstructured answer: the prototype that likes brevity explains it, and the
    # newcomer inherits its strong weights instead of the small ones a single vote gives under N(0, I)
    assert weights[0] > 1.5 and weights[1] < -1.0


@pytest.mark.django_db
def test_best_of_n_scores_blend_the_user_with_their_prototype_until_their_votes_are_many() -> None:
    import torch

    from workers.compare import reward_scores

    _pool(2)
    bank_id, bank = bank_ensure()
    _two_camps(bank_id, seed=2)
    profile = _newcomer_prefers_brief()
    candidates = bank.features(torch.tensor([[0.9, 0.1, *([0.5] * 6)], [0.1, 0.9, *([0.5] * 6)],
                                             [0.5, 0.5, *([0.5] * 6)]]))  # brief, wordy, in between
    before = reward_scores(profile=profile, bank_id=bank_id, bank=bank, features=candidates)
    assert before.shape == (3,) and int(before.argmax()) == 0  # no prototypes yet: the stored weights rank
    prototypes_refit_run()
    profile.refresh_from_db()
    scores = reward_scores(profile=profile, bank_id=bank_id, bank=bank, features=candidates)
    again = reward_scores(profile=profile, bank_id=bank_id, bank=bank, features=candidates)
    assert torch.equal(scores, again)  # seeded: the same candidates always rank the same way
    assert int(scores.argmax()) == 0 and int(scores.argmin()) == 1
    # one vote leaves the user unsure, so the prototype level (standardised across candidates) carries the score
    assert not torch.allclose(scores, before.double())
