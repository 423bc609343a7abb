"""Mixture of Bradley–Terry rewards over users: recovering planted user types, placing a new user from a few
votes, and the bank and prototypes built from it."""

from __future__ import annotations

import pytest
import torch

from personalization.axes import AXIS_NAMES
from personalization.bank import BaseRewardBank
from personalization.mixture import BradleyTerryMixture, mixture_bank
from personalization.population import PopulationConfig, meta_share, population_fit
from personalization.prototypes import PrototypeModel
from tests.personalization.synthetic import two_type_votes


def _typed_votes(n_users: int = 40, votes: int = 30, dim: int = 6, seed: int = 0) -> tuple[
        list[int], torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Users of two types with different rewards (not opposite: they agree on one feature); returns users, diffs,
    outcomes, each user's type and the two true rewards."""
    gen = torch.Generator().manual_seed(seed)
    rewards = torch.tensor([[3.0, 2.0, 0, 0, 0, 1.0], [0, 0, 3.0, -2.0, 0, 1.0]])[:, :dim]
    users, rows, outcomes = [], [], []
    types = torch.tensor([u % 2 for u in range(n_users)])
    for u in range(n_users):
        d = torch.randn(votes, dim, generator=gen, dtype=torch.float64)
        p = torch.sigmoid(d @ rewards[types[u]].double())
        outcomes.append(torch.where(torch.rand(votes, generator=gen, dtype=torch.float64) < p, 1, -1))
        rows.append(d)
        users += [u] * votes
    return users, torch.cat(rows), torch.cat(outcomes), types, rewards


def test_mixture_finds_the_planted_types_and_their_rewards() -> None:
    users, diffs, outcomes, types, rewards = _typed_votes()
    mixture = BradleyTerryMixture(k_range=(1, 2, 3), tie_strength=0.0).fit(users, diffs, outcomes)
    assert mixture.k_ == 2
    assert set(mixture.val_nll_) == {1, 2, 3} and mixture.val_nll_[2] < mixture.val_nll_[1]
    labels = mixture.responsibilities_.argmax(1)
    agreement = float((labels == types).double().mean())
    assert max(agreement, 1 - agreement) >= 0.95  # every user's type, up to the prototypes' order
    for j in range(2):
        true = rewards[int(types[labels == j].mode().values)].double()
        cosine = float(torch.nn.functional.cosine_similarity(mixture.weights_[j], true, dim=0))
        assert cosine > 0.9
    assert float(mixture.mix_.sum()) == pytest.approx(1.0)


def test_a_new_user_is_placed_from_a_few_votes() -> None:
    users, diffs, outcomes, _, rewards = _typed_votes(seed=1)
    mixture = BradleyTerryMixture(k_range=(2,), tie_strength=0.0).fit(users, diffs, outcomes)
    assert torch.allclose(mixture.posterior(diffs[:0], outcomes[:0]), mixture.mix_)
    gen = torch.Generator().manual_seed(9)
    d = torch.randn(12, 6, generator=gen, dtype=torch.float64)
    y = torch.where(d @ rewards[1].double() > 0, 1, -1)  # a clear-cut user of type 1
    own = int(torch.nn.functional.cosine_similarity(mixture.weights_, rewards[1].double()[None], dim=1).argmax())
    assert float(mixture.posterior(d, y)[own]) > 0.95
    query = torch.randn(200, 6, generator=gen, dtype=torch.float64)
    proba = mixture.predict_proba(d, y, query)
    assert proba.shape == (200, 3) and torch.allclose(proba.sum(1), torch.ones(200, dtype=torch.float64))
    agree = ((proba[:, 0] > 0.5) == (query @ rewards[1].double() > 0)).double().mean()
    assert float(agree) > 0.85


def test_mixture_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="k_range"):
        BradleyTerryMixture(k_range=(0,)).fit([0], torch.zeros(1, 3), torch.ones(1))
    with pytest.raises(ValueError, match="one row per vote"):
        BradleyTerryMixture(k_range=(1,)).fit([0, 1], torch.zeros(3, 3), torch.ones(3))


def test_mixture_bank_carries_each_prototype_reward_exactly() -> None:
    users, axes_first, axes_second, emb_first, emb_second, outcomes = two_type_votes(n_users=20, votes=30, d=10)
    bank = BaseRewardBank(version=3).fit_axes(torch.cat([axes_first, axes_second]))
    raw = torch.cat([(axes_first - axes_second) / bank.axis_std_, emb_first - emb_second], 1).double()
    mixture = BradleyTerryMixture(k_range=(2,), tie_strength=0.0).fit(users, raw, outcomes)
    new_bank, means = mixture_bank(bank, mixture, torch.cat([emb_first, emb_second]))
    assert new_bank.version == 4 and new_bank.n_latent == 2 and means.shape == (2, len(AXIS_NAMES) + 2)
    on_bank = new_bank.pair_diffs(axes_first, emb_first, axes_second, emb_second) @ means.T  # (N, 2)
    assert torch.allclose(on_bank, raw @ mixture.weights_.T, atol=1e-3)


def test_prototypes_from_a_mixture_place_users_like_the_mixture_and_keep_ids() -> None:
    users, diffs, outcomes, _, _ = _typed_votes(seed=2)
    mixture = BradleyTerryMixture(k_range=(2,), tie_strength=0.0).fit(users, diffs, outcomes)
    keys = [f"u{u}" for u in mixture.users_]
    model = PrototypeModel.from_mixture(mixture.weights_, mixture.mix_, mixture.responsibilities_, keys,
                                        reg_covar=1e-4)
    assert model.k_ == 2 and model.members_.shape == (40, 6) and model.ids_ == [0, 1]
    d, y = diffs[:8], outcomes[:8]
    posterior = model.posterior(d, y, tie_strength=0.0)
    assert torch.allclose(posterior.responsibilities, mixture.posterior(d, y), atol=0.05)
    swapped = PrototypeModel.from_mixture(mixture.weights_.flip(0), mixture.mix_.flip(0),
                                          mixture.responsibilities_.flip(1), keys, previous=model)
    assert swapped.ids_ == [1, 0]  # matched by shared members, not by position
    restored = PrototypeModel.from_state(model.to_state())
    assert torch.allclose(restored.means_, model.means_) and restored.ids_ == model.ids_


@pytest.mark.parametrize("bases", ["mixture", "factorization"])
def test_population_fit_with_either_bases(bases: str) -> None:
    users, axes_first, axes_second, emb_first, emb_second, outcomes = two_type_votes(n_users=24, votes=30, d=10)
    config = PopulationConfig(bases=bases, ranks=(1, 2), meta_steps=10, k_range=(1, 2), n_samples=8,
                              tie_strength=0.0)
    fitted = population_fit(users=users, axes_first=axes_first, axes_second=axes_second, emb_first=emb_first,
                            emb_second=emb_second, outcomes=outcomes, pool_axes=torch.cat([axes_first, axes_second]),
                            config=config)
    assert fitted.prototypes.means_.shape[1] == fitted.bank.dim
    diffs = fitted.diffs(axes_first, emb_first, axes_second, emb_second)
    proba = fitted.proba("tailor", diffs[30:40], outcomes[30:40], diffs[40:60])  # user 1: 10 votes, then 20
    assert float(((proba > 0.5) == (outcomes[40:60] == 1)).double().mean()) > 0.6
    if bases == "mixture":
        assert fitted.prototypes.k_ == 2 and fitted.bank.n_latent == 2
        individual, posterior = fitted.user_fit(diffs[30:55], outcomes[30:55])
        assert meta_share(individual, posterior) < 0.5  # two clean types: the prototype mixture explains them better
    empty, posterior = fitted.user_fit(diffs[:0], outcomes[:0])
    assert meta_share(empty, posterior) == 0.5


def test_population_fit_rejects_unknown_bases() -> None:
    users, axes_first, axes_second, emb_first, emb_second, outcomes = two_type_votes(n_users=4, votes=5)
    with pytest.raises(ValueError, match="bases"):
        population_fit(users=users, axes_first=axes_first, axes_second=axes_second, emb_first=emb_first,
                       emb_second=emb_second, outcomes=outcomes, pool_axes=axes_first,
                       config=PopulationConfig(bases="svd"))
