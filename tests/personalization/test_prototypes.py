from __future__ import annotations

import pytest
import torch

from personalization.prototypes import PrototypeModel


def _clusters(centres: list[list[float]], per: int = 30, spread: float = 0.2, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.cat([torch.tensor(c, dtype=torch.float64) + spread * torch.randn(per, len(c), generator=gen,
                                                                                  dtype=torch.float64)
                      for c in centres])


CENTRES = [[3.0, 0.0, 0.0, 0.0], [-3.0, 0.0, 0.0, 0.0], [0.0, 3.0, 0.0, 0.0]]


@pytest.mark.parametrize("criterion", ["bic", "silhouette"])
def test_model_selection_finds_the_number_of_clusters(criterion: str) -> None:
    model = PrototypeModel(k_range=(1, 2, 3, 4), criterion=criterion).fit(_clusters(CENTRES, per=20))
    assert model.k_ == 3
    assert set(model.criterion_scores_) >= {2, 3, 4}


def test_prototype_means_sit_on_the_cluster_centres_in_the_full_space() -> None:
    model = PrototypeModel(k_range=(3,)).fit(_clusters(CENTRES))
    found = sorted(model.means_.tolist())
    for got, want in zip(found, sorted(CENTRES), strict=True):
        assert torch.allclose(torch.tensor(got), torch.tensor(want), atol=0.2)
    assert model.covariances_.shape == (3, 4, 4)


def test_soft_assignment_rows_sum_to_one_and_pick_the_right_cluster() -> None:
    model = PrototypeModel(k_range=(3,)).fit(_clusters(CENTRES))
    resp = model.assign(torch.tensor([[3.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]], dtype=torch.float64))
    assert torch.allclose(resp.sum(1), torch.ones(2, dtype=torch.float64))
    nearest = int(torch.cdist(model.means_, torch.tensor([[3.0, 0, 0, 0]], dtype=torch.float64)).argmin())
    assert resp[0, nearest] > 0.99


def test_ids_stay_stable_across_refits_with_shuffled_users() -> None:
    first = PrototypeModel(k_range=(3,), seed=0).fit(_clusters(CENTRES, seed=0))
    second = PrototypeModel(k_range=(3,), seed=5).fit(_clusters(CENTRES[::-1], seed=1), previous=first)
    for i, mean in enumerate(second.means_):
        j = int(torch.cdist(mean[None], first.means_).argmin())
        assert second.ids_[i] == first.ids_[j]


def test_a_new_cluster_gets_a_fresh_id() -> None:
    first = PrototypeModel(k_range=(2,)).fit(_clusters(CENTRES[:2]))
    second = PrototypeModel(k_range=(3,)).fit(_clusters(CENTRES), previous=first)
    assert sorted(second.ids_) == [0, 1, 2]
    new = int(torch.cdist(torch.tensor([[0.0, 3.0, 0, 0]], dtype=torch.float64), second.means_).argmin())
    assert second.ids_[new] == 2


def test_cold_start_posterior_is_the_prototype_prior() -> None:
    model = PrototypeModel(k_range=(3,)).fit(_clusters(CENTRES))
    posterior = model.posterior(torch.zeros(0, 4), torch.zeros(0))
    assert torch.allclose(posterior.responsibilities, model.mix_)
    mean, _ = posterior.moments()
    assert torch.allclose(mean, model.mix_ @ model.means_, atol=1e-6)


def test_votes_move_the_posterior_to_the_agreeing_prototype() -> None:
    model = PrototypeModel(k_range=(3,)).fit(_clusters(CENTRES))
    diffs = torch.tensor([[1.0, 0.0, 0.0, 0.0]] * 4, dtype=torch.float64)
    posterior = model.posterior(diffs, torch.tensor([-1, -1, -1, -1]))  # the user prefers less of axis 0
    best = int(posterior.responsibilities.argmax())
    assert model.means_[best, 0] < -2
    assert posterior.sample(16).shape == (16, 4)


def test_state_round_trips_through_json_types() -> None:
    model = PrototypeModel(k_range=(3,)).fit(_clusters(CENTRES), user_keys=[f"u{i}" for i in range(90)])
    again = PrototypeModel.from_state(model.to_state())
    assert again.ids_ == model.ids_ and again.member_keys_[0] == "u0"
    probe = torch.tensor([[0.0, 3.0, 0.0, 0.0]], dtype=torch.float64)
    assert torch.allclose(again.assign(probe), model.assign(probe))


def test_ids_follow_the_members_when_the_bank_changes_the_weight_space() -> None:
    keys = [f"u{i}" for i in range(90)]
    first = PrototypeModel(k_range=(3,)).fit(_clusters(CENTRES), user_keys=keys)
    rotated = _clusters(CENTRES) @ torch.tensor([[0.0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]],
                                                dtype=torch.float64)
    rotated = torch.cat([rotated, torch.zeros(90, 2, dtype=torch.float64)], 1)  # a new bank with K = 6
    second = PrototypeModel(k_range=(3,), seed=7).fit(rotated, user_keys=keys, previous=first)
    for key_index in (0, 30, 60):
        old = first.ids_[int(first.member_labels_[key_index])]
        new = second.ids_[int(second.member_labels_[key_index])]
        assert old == new
