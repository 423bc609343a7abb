"""Staff decisions on prototypes survive the periodic refit; splits and re-runs go through the real worker."""

from __future__ import annotations

import random
import uuid

import pytest

from tests.conftest import wait_until
from tests.factories import PromptFactory, ResponseFactory, UserFactory
from webapp.catalog.models import Response
from webapp.profiles.models import RewardProfile
from webapp.prototypes import services
from webapp.prototypes.models import Prototype, PrototypeAudit, PrototypeFit
from webapp.votes.models import Pair, Vote
from workers.features import bank_ensure
from workers.learning import prototypes_refit_run
from workers.prototype_review import keys_never_reused

BRIEF, LONG = [0.9, *([0.5] * 7)], [0.1, *([0.5] * 7)]


def two_groups_of_users(n_per_group: int = 6, votes: bool = False) -> tuple[list[int], list[int]]:
    """Two groups of users: one prefers brevity (weight +2 on axis 0), the other the opposite."""
    prompt = PromptFactory()
    brief, long = ResponseFactory(prompt=prompt, axis_scores=BRIEF), ResponseFactory(prompt=prompt, axis_scores=LONG)
    bank_id, _ = bank_ensure()
    rng = random.Random(0)
    groups: tuple[list[int], list[int]] = ([], [])
    for i in range(2 * n_per_group):
        user = UserFactory()
        sign = 1.0 if i % 2 == 0 else -1.0
        weights = [2.0 * sign + rng.gauss(0, 0.2), -1.0 * sign] + [rng.gauss(0, 0.1) for _ in range(6)]
        eye = [[0.1 if a == b else 0.0 for b in range(8)] for a in range(8)]
        RewardProfile.objects.create(user=user, bank_id=bank_id, weights=weights, covariance=eye, vote_count=5,
                                     version=1)
        if votes:  # stored directly: vote_record would enqueue refits that replace these made-up weights
            for _ in range(3):
                pair = Pair.objects.create(user=user, prompt=prompt, left=brief, right=long, source="random")
                Vote.objects.create(user=user, pair=pair, idempotency_key=uuid.uuid4(),
                                    choice="left" if sign > 0 else "right")
        groups[i % 2].append(user.pk)
    return groups


def _key(user_id: int) -> int | None:
    return RewardProfile.objects.get(user_id=user_id).prototype_id


@pytest.mark.django_db
def test_a_refit_keeps_names_approvals_and_merges() -> None:
    brief_users, long_users = two_groups_of_users()
    assert prototypes_refit_run() == 2
    brief_key, long_key = _key(brief_users[0]), _key(long_users[0])
    staff = UserFactory(is_staff=True)
    services.prototype_rename(actor_id=staff.pk, key=long_key, name="Thorough")
    services.prototype_approve(actor_id=staff.pk, key=long_key)
    summary_before = Prototype.objects.get(key=long_key).summary
    services.prototypes_merge(actor_id=staff.pk, source_key=brief_key, target_key=long_key)
    assert prototypes_refit_run() == 1  # the clustering still finds two clusters; the merge folds them
    assert {_key(u) for u in brief_users + long_users} == {long_key}
    merged, target = Prototype.objects.get(key=brief_key), Prototype.objects.get(key=long_key)
    assert (merged.status, merged.merged_into) == ("retired", long_key)
    assert (target.name, target.status, target.size) == ("Thorough", "approved", 12)
    assert -0.5 < target.mean[0] < 0.5  # the moments of both clusters, not of one
    assert target.summary and target.summary != summary_before  # the summary follows the merged centroid
    assert PrototypeFit.objects.latest("version").sizes == {str(long_key): 12}


@pytest.mark.django_db
def test_a_retired_prototype_stays_retired_and_its_users_go_elsewhere() -> None:
    brief_users, long_users = two_groups_of_users()
    prototypes_refit_run()
    brief_key, long_key = _key(brief_users[0]), _key(long_users[0])
    services.prototype_retire(actor_id=UserFactory(is_staff=True).pk, key=brief_key)
    Prototype.objects.filter(key=long_key).update(summary="Staff wrote this.", summary_edited=True)
    prototypes_refit_run()
    assert Prototype.objects.get(key=long_key).summary == "Staff wrote this."  # workers never rewrite it
    assert Prototype.objects.get(key=brief_key).status == "retired"
    assert {_key(u) for u in brief_users} == {long_key}
    state = PrototypeFit.objects.latest("version").state
    assert state["mix"][state["ids"].index(brief_key)] == 0.0  # the cold-start prior no longer borrows from it


@pytest.mark.django_db
def test_keys_are_never_reused() -> None:
    Prototype.objects.create(key=2, status=Prototype.Status.RETIRED)
    # the library numbers a fresh cluster 2 (max previous id + 1), but 2 once was a prototype
    assert keys_never_reused([0, 1, 2], [0, 1]) == [0, 1, 3]


@pytest.mark.django_db
def test_a_refit_computes_disagreements_and_member_agreement() -> None:
    brief_users, long_users = two_groups_of_users(votes=True)
    prototypes_refit_run()
    brief, long = Prototype.objects.get(key=_key(brief_users[0])), Prototype.objects.get(key=_key(long_users[0]))
    assert brief.agreement == 1.0 and brief.agreement_votes == 18  # every member vote matches the prototype
    top = brief.disagreements[0]
    assert top["other_key"] == long.key and top["self_margin"] > 0 > top["other_margin"]
    assert {top["left"], top["right"]} == {r.text for r in Response.objects.all()} and top["prompt"]


def test_split_and_rerun_go_through_the_worker_and_are_audited(transactional_db, celery_worker_live) -> None:
    brief_users, long_users = two_groups_of_users()
    prototypes_refit_run()
    brief_key, long_key = _key(brief_users[0]), _key(long_users[0])
    staff = UserFactory(is_staff=True, username="reviewer")
    services.prototypes_merge(actor_id=staff.pk, source_key=brief_key, target_key=long_key)
    audit = services.prototype_split_request(actor_id=staff.pk, key=long_key)
    assert wait_until(lambda: PrototypeAudit.objects.get(pk=audit.pk).after.get("status") == "done", timeout=60)
    parts = list(Prototype.objects.exclude(status="retired").order_by("key"))
    assert len(parts) == 2 and min(p.key for p in parts) > max(brief_key, long_key)  # new, never used keys
    assert wait_until(lambda: all(p.summary for p in Prototype.objects.filter(key__in=[q.key for q in parts])))
    assert Prototype.objects.get(key=long_key).status == "retired"
    assert len({_key(u) for u in brief_users}) == 1 and len({_key(u) for u in long_users}) == 1
    assert _key(brief_users[0]) != _key(long_users[0])
    assert PrototypeAudit.objects.get(pk=audit.pk).keys == [long_key, *[p.key for p in parts]]
    split_keys = {p.key: set(RewardProfile.objects.filter(prototype_id=p.key).values_list("user_id", flat=True))
                  for p in parts}

    request = services.prototypes_refit_request(actor_id=staff.pk)
    assert wait_until(lambda: PrototypeAudit.objects.get(pk=request.pk).after.get("status") == "done", timeout=60)
    # the periodic clustering matches the split's parts by their members: same keys, same members
    assert {p.key: set(RewardProfile.objects.filter(prototype_id=p.key).values_list("user_id", flat=True))
            for p in Prototype.objects.exclude(status="retired")} == split_keys
    run = PrototypeAudit.objects.filter(action="refit").latest("id")
    assert run.actor_id == staff.pk and "fit v" in run.note


def test_a_split_that_cannot_be_made_is_recorded_and_changes_nothing(transactional_db, celery_worker_live) -> None:
    brief_users, _ = two_groups_of_users(n_per_group=4)
    prototypes_refit_run()
    key = _key(brief_users[0])
    staff = UserFactory(is_staff=True)
    audit = services.prototype_split_request(actor_id=staff.pk, key=key)  # 4 members: allowed to try
    RewardProfile.objects.filter(user_id=brief_users[0]).update(prototype_id=None)  # one leaves meanwhile
    assert wait_until(lambda: PrototypeAudit.objects.get(pk=audit.pk).after.get("status") == "failed", timeout=60)
    assert "a split needs 4" in PrototypeAudit.objects.get(pk=audit.pk).after["error"]
    assert Prototype.objects.get(key=key).status == "active"
