from __future__ import annotations

import torch

from personalization.bank import BaseRewardBank
from personalization.factorization import FactorizationConfig, LowRankFactorization, bank_refit
from tests.personalization.synthetic import two_type_votes


def _bank(axes: torch.Tensor) -> BaseRewardBank:
    return BaseRewardBank(version=3, encoder="tiny").fit_axes(axes)


def test_factorization_separates_two_opposite_user_types_on_the_latent_axis() -> None:
    users, a1, a2, e1, e2, y = two_type_votes()
    fact = LowRankFactorization(FactorizationConfig(ranks=(1,), user_l2=0.1, basis_l2=0.1, max_iter=40)).fit(
        users, a1 - a2, e1 - e2, y)
    latent = fact.user_weights_[:, -1]  # (U,)
    types = torch.tensor([u % 2 for u in fact.users_])
    assert torch.sign(latent[types == 0].mean()) != torch.sign(latent[types == 1].mean())
    assert (torch.sign(latent) == torch.sign(latent[types == 0].mean())).eq(types == 0).float().mean() > 0.9


def test_rank_is_chosen_by_held_out_likelihood() -> None:
    users, a1, a2, e1, e2, y = two_type_votes()
    fact = LowRankFactorization(FactorizationConfig(ranks=(1, 3), user_l2=0.1, basis_l2=0.1, max_iter=30)).fit(
        users, a1 - a2, e1 - e2, y)
    assert set(fact.val_nll_) == {1, 3}
    assert (fact.rank_, fact.l2_scale_) == min(fact.val_grid_, key=fact.val_grid_.__getitem__)
    assert fact.latent_.shape == (12, fact.rank_)


def test_latent_features_have_unit_variance() -> None:
    users, a1, a2, e1, e2, y = two_type_votes()
    fact = LowRankFactorization(FactorizationConfig(ranks=(2,), max_iter=30)).fit(users, a1 - a2, e1 - e2, y)
    assert torch.allclose(((e1 - e2) @ fact.latent_).std(0), torch.ones(2), atol=1e-3)


def test_bank_refit_bumps_the_version_and_keeps_the_axes() -> None:
    users, a1, a2, e1, e2, y = two_type_votes()
    bank = _bank(torch.cat([a1, a2]))
    new_bank, weights = bank_refit(bank=bank, users=users, axes_first=a1, axes_second=a2, emb_first=e1,
                                   emb_second=e2, outcomes=y, config=FactorizationConfig(ranks=(2,), max_iter=30))
    assert new_bank.version == 4 and new_bank.encoder == "tiny"
    assert new_bank.n_latent == 2 and new_bank.dim == 10
    assert torch.equal(new_bank.axis_std_, bank.axis_std_)
    assert set(weights) == set(users) and weights[0].shape == (10,)


def test_refit_user_weights_predict_their_own_votes() -> None:
    users, a1, a2, e1, e2, y = two_type_votes()
    bank = _bank(torch.cat([a1, a2]))
    new_bank, weights = bank_refit(bank=bank, users=users, axes_first=a1, axes_second=a2, emb_first=e1,
                                   emb_second=e2, outcomes=y, config=FactorizationConfig(ranks=(1,), user_l2=0.1, basis_l2=0.1,
                                                                                      max_iter=40))
    diffs = new_bank.features(a1, e1) - new_bank.features(a2, e2)  # (N, K)
    w = torch.stack([weights[u] for u in users])
    accuracy = (((diffs * w).sum(1) > 0) == (y == 1)).float().mean()
    assert accuracy > 0.75


def test_vote_level_validation_also_picks_a_rank() -> None:
    users, a1, a2, e1, e2, y = two_type_votes()
    fact = LowRankFactorization(FactorizationConfig(ranks=(1, 2), validation="votes", max_iter=30)).fit(
        users, a1 - a2, e1 - e2, y)
    assert set(fact.val_grid_) == {(1, 1.0), (2, 1.0)} and fact.rank_ in (1, 2)
