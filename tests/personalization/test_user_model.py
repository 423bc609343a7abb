from __future__ import annotations

import pytest
import torch

from personalization.user_model import (
    OUTCOME_FIRST,
    OUTCOME_SECOND,
    OUTCOME_TIE,
    UserRewardModel,
    davidson_nll,
    log_evidence,
    user_fit,
)


def _votes(n: int, k: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    true_w = torch.tensor([2.0, -1.0, 0.5, 0.0][:k], dtype=torch.float64)
    diffs = torch.randn(n, k, generator=gen, dtype=torch.float64)
    outcomes = torch.where(torch.rand(n, generator=gen, dtype=torch.float64) < torch.sigmoid(diffs @ true_w), 1, -1)
    return diffs, outcomes, true_w


def test_fit_recovers_the_direction_of_the_true_weights() -> None:
    diffs, outcomes, true_w = _votes(400)
    model = UserRewardModel(tie_strength=0.0).fit(diffs, outcomes)
    cosine = torch.nn.functional.cosine_similarity(model.weights_, true_w, dim=0)
    assert cosine > 0.95
    assert model.n_votes_ == 400


def test_fit_returns_self_and_sets_learned_state() -> None:
    diffs, outcomes, _ = _votes(10)
    model = UserRewardModel()
    assert model.fit(diffs, outcomes) is model
    assert model.weights_.shape == (4,) and model.covariance_.shape == (4, 4)
    assert torch.allclose(model.covariance_ @ model.precision_, torch.eye(4, dtype=torch.float64), atol=1e-8)


def test_with_no_information_the_map_is_the_prior_mean() -> None:
    mean = torch.tensor([1.0, -2.0], dtype=torch.float64)
    model = UserRewardModel(prior_mean=mean).fit(torch.zeros(3, 2, dtype=torch.float64), torch.tensor([1, -1, 0]))
    assert torch.allclose(model.weights_, mean, atol=1e-8)


def test_stronger_prior_precision_shrinks_weights_towards_the_mean() -> None:
    diffs, outcomes, _ = _votes(20)
    loose = UserRewardModel(prior_precision=0.1).fit(diffs, outcomes)
    tight = UserRewardModel(prior_precision=100.0).fit(diffs, outcomes)
    assert tight.weights_.norm() < loose.weights_.norm() / 5
    assert torch.trace(tight.covariance_) < torch.trace(loose.covariance_)


def test_more_votes_shrink_the_posterior_covariance() -> None:
    diffs, outcomes, _ = _votes(200)
    few = UserRewardModel().fit(diffs[:5], outcomes[:5])
    many = UserRewardModel().fit(diffs, outcomes)
    assert torch.trace(many.covariance_) < torch.trace(few.covariance_) / 5


def test_strength_weight_counts_like_a_repeated_vote() -> None:
    diffs, outcomes, _ = _votes(6)
    weighted = UserRewardModel().fit(diffs, outcomes, torch.tensor([3.0, 1, 1, 1, 1, 1]))
    repeated = UserRewardModel().fit(torch.cat([diffs[:1], diffs[:1], diffs]), torch.cat([outcomes[:1]] * 2 + [outcomes]))
    assert torch.allclose(weighted.weights_, repeated.weights_, atol=1e-6)


def test_zero_strength_vote_is_ignored() -> None:
    diffs, outcomes, _ = _votes(6)
    with_ignored = UserRewardModel().fit(diffs, outcomes, torch.tensor([0.0, 1, 1, 1, 1, 1]))
    without = UserRewardModel().fit(diffs[1:], outcomes[1:])
    assert torch.allclose(with_ignored.weights_, without.weights_, atol=1e-8)


def test_ties_pull_the_score_difference_towards_zero() -> None:
    d = torch.tensor([[1.0]], dtype=torch.float64)
    win = UserRewardModel().fit(d.repeat(4, 1), torch.full((4,), OUTCOME_FIRST))
    ties = UserRewardModel().fit(d.repeat(8, 1), torch.tensor([OUTCOME_FIRST] * 4 + [OUTCOME_TIE] * 4))
    assert 0 < ties.weights_[0] < win.weights_[0]


def test_davidson_probabilities_sum_to_one_and_reduce_to_bradley_terry() -> None:
    scores = torch.tensor([-2.0, 0.0, 1.5], dtype=torch.float64)
    total = sum(torch.exp(-davidson_nll(scores, torch.full((3,), o), 0.5)) for o in (1, -1, 0))
    assert torch.allclose(total, torch.ones(3, dtype=torch.float64))
    bt = torch.exp(-davidson_nll(scores, torch.full((3,), OUTCOME_FIRST), 0.0))
    assert torch.allclose(bt, torch.sigmoid(scores))


def test_predict_proba_orders_outcomes_by_score() -> None:
    diffs, outcomes, _ = _votes(200)
    model = UserRewardModel().fit(diffs, outcomes)
    probs = model.predict_proba(torch.tensor([[3.0, -1.0, 0.0, 0.0]], dtype=torch.float64))
    assert probs.shape == (1, 3)
    assert probs[0, 0] > probs[0, 1]


def test_partial_fit_matches_a_full_fit_on_the_same_votes() -> None:
    diffs, outcomes, _ = _votes(12)
    incremental = UserRewardModel().fit(diffs[:11], outcomes[:11]).partial_fit(diffs[11], int(outcomes[11]))
    full = UserRewardModel().fit(diffs, outcomes)
    assert torch.allclose(incremental.weights_, full.weights_, atol=1e-6)
    assert incremental.n_votes_ == 12


def test_partial_fit_on_a_fresh_model_starts_from_one_vote() -> None:
    model = UserRewardModel().partial_fit(torch.tensor([1.0, 0.0], dtype=torch.float64), OUTCOME_SECOND)
    assert model.n_votes_ == 1 and model.weights_[0] < 0


def test_sample_draws_follow_the_laplace_posterior() -> None:
    diffs, outcomes, _ = _votes(50)
    model = UserRewardModel().fit(diffs, outcomes)
    draws = model.sample(4000, torch.Generator().manual_seed(0))
    assert draws.shape == (4000, 4)
    assert torch.allclose(draws.mean(0), model.weights_, atol=0.05)
    assert torch.allclose(torch.cov(draws.T), model.covariance_, atol=0.05)


def test_invalid_outcomes_and_shapes_are_rejected() -> None:
    with pytest.raises(ValueError, match="outcomes"):
        UserRewardModel().fit(torch.zeros(2, 3), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        UserRewardModel().fit(torch.zeros(3), torch.tensor([1, 1, 1]))


def test_user_fit_without_votes_returns_the_prior() -> None:
    mean = torch.tensor([0.5, -0.5], dtype=torch.float64)
    model = user_fit(diffs=torch.zeros(0, 2), outcomes=torch.zeros(0), prior_mean=mean, prior_precision=4.0)
    assert torch.allclose(model.weights_, mean)
    assert torch.allclose(model.covariance_, torch.eye(2, dtype=torch.float64) / 4)
    assert model.n_votes_ == 0


def test_log_evidence_prefers_the_prior_that_agrees_with_the_votes() -> None:
    diffs, outcomes, true_w = _votes(15)
    right = user_fit(diffs=diffs, outcomes=outcomes, prior_mean=true_w, prior_precision=4.0)
    wrong = user_fit(diffs=diffs, outcomes=outcomes, prior_mean=-true_w, prior_precision=4.0)
    assert log_evidence(right) > log_evidence(wrong)
