from __future__ import annotations

import pytest

from tests.factories import UserFactory
from webapp.profiles.models import BaseRewardBank, RewardProfile
from webapp.prototypes import services
from webapp.prototypes.models import Prototype, PrototypeAudit

EYE = [[0.1 if a == b else 0.0 for b in range(2)] for a in range(2)]


@pytest.fixture
def setup():
    bank = BaseRewardBank.objects.create(version=1, encoder="t", names=["brevity", "warmth"], state={},
                                         is_active=True)
    staff = UserFactory(is_staff=True)
    rows = {}
    for key, mean, size in ((0, [2.0, 0.0], 2), (1, [-2.0, 0.0], 1), (2, [0.0, 2.0], 1)):
        rows[key] = Prototype.objects.create(key=key, bank=bank, mean=mean, covariance=EYE, size=size, weight=0.3)
    members = {}
    for name, key, weights in (("a1", 0, [2.1, 0.0]), ("a2", 0, [1.9, 0.1]), ("b1", 1, [-2.0, 0.2]),
                               ("c1", 2, [-0.5, 1.9])):
        user = UserFactory(username=name)
        RewardProfile.objects.create(user=user, bank=bank, weights=weights, covariance=EYE, vote_count=5,
                                     version=1, prototype_id=key)
        members[name] = user.pk
    return staff, rows, members


def _key_of(user_id: int) -> int | None:
    return RewardProfile.objects.get(user_id=user_id).prototype_id


@pytest.mark.django_db
def test_rename_keeps_who_when_and_before_after(setup) -> None:
    staff, _, _ = setup
    services.prototype_rename(actor_id=staff.pk, key=0, name="  Short   and sweet ")
    audit = PrototypeAudit.objects.get()
    assert Prototype.objects.get(key=0).name == "Short and sweet"
    assert (audit.actor_id, audit.action, audit.keys) == (staff.pk, "rename", [0])
    assert audit.before["name"] == "" and audit.after["name"] == "Short and sweet" and audit.created_at


@pytest.mark.django_db
def test_approving_twice_or_acting_on_a_retired_prototype_is_refused(setup) -> None:
    staff, _, _ = setup
    services.prototype_approve(actor_id=staff.pk, key=1)
    with pytest.raises(services.PrototypeActionRejected, match="already approved"):
        services.prototype_approve(actor_id=staff.pk, key=1)
    services.prototype_retire(actor_id=staff.pk, key=2)
    for action in (lambda: services.prototype_rename(actor_id=staff.pk, key=2, name="x"),
                   lambda: services.prototype_approve(actor_id=staff.pk, key=2),
                   lambda: services.prototypes_merge(actor_id=staff.pk, source_key=2, target_key=0)):
        with pytest.raises(services.PrototypeActionRejected, match="retired"):
            action()
    assert PrototypeAudit.objects.count() == 2


@pytest.mark.django_db
def test_merge_moves_members_and_marks_the_source_merged(setup) -> None:
    staff, _, members = setup
    target = services.prototypes_merge(actor_id=staff.pk, source_key=1, target_key=0)
    source = Prototype.objects.get(key=1)
    assert (source.status, source.merged_into, source.size) == ("retired", 0, 0)
    assert target.size == 3 and _key_of(members["b1"]) == 0
    # the target's centroid is the size-weighted union: (2·2 + 1·(−2)) / 3
    assert target.mean[0] == pytest.approx(2 / 3)
    assert target.covariance[0][0] > EYE[0][0]  # the spread between the two centroids counts
    audit = PrototypeAudit.objects.get(action="merge")
    assert audit.keys == [1, 0] and audit.before["source"]["status"] == "active" and audit.after["moved"] == 1
    with pytest.raises(services.PrototypeActionRejected, match="two different"):
        services.prototypes_merge(actor_id=staff.pk, source_key=0, target_key=0)
    with pytest.raises(services.PrototypeActionRejected, match="no prototype #7"):
        services.prototypes_merge(actor_id=staff.pk, source_key=7, target_key=0)


@pytest.mark.django_db
def test_retire_moves_members_to_the_nearest_live_prototype(setup) -> None:
    staff, _, members = setup
    services.prototype_retire(actor_id=staff.pk, key=2)
    assert _key_of(members["c1"]) == 1  # (−0.5, 1.9) is nearer (−2, 0) than (2, 0)
    assert Prototype.objects.get(key=1).size == 2 and Prototype.objects.get(key=2).status == "retired"
    assert PrototypeAudit.objects.get().after["members_moved_to"] == {"1": 1}


@pytest.mark.django_db
def test_split_and_refit_requests_are_audited_and_enqueued_after_commit(setup, django_capture_on_commit_callbacks):
    staff, _, _ = setup
    with pytest.raises(services.PrototypeActionRejected, match="needs 4"):
        services.prototype_split_request(actor_id=staff.pk, key=0)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        audit = services.prototypes_refit_request(actor_id=staff.pk)
    assert audit.action == "refit_request" and set(audit.before) == {"0", "1", "2"}
    assert audit.after == {"status": "queued"}
    assert len(callbacks) == 2  # the task, and the progress push to open review pages
