from __future__ import annotations

import torch

from personalization.meta import MetaPrior, newton_adapt
from personalization.user_model import UserRewardModel


def _users(n_users: int = 40, votes: int = 30, seed: int = 0) -> tuple[list[int], torch.Tensor, torch.Tensor]:
    """Every user shares the same preference w = (2, 0, 0): a good prior should find it."""
    gen = torch.Generator().manual_seed(seed)
    diffs = torch.randn(n_users * votes, 3, generator=gen, dtype=torch.float64)
    p = torch.sigmoid(diffs @ torch.tensor([2.0, 0.0, 0.0], dtype=torch.float64))
    outcomes = torch.where(torch.rand(len(p), generator=gen, dtype=torch.float64) < p, 1, -1)
    return [i // votes for i in range(n_users * votes)], diffs, outcomes


def test_newton_adapt_converges_to_the_map_fit() -> None:
    _, diffs, outcomes = _users(1, 20)
    mean, prec = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    w = newton_adapt(diffs[None], outcomes[None], torch.ones(1, 20, dtype=torch.float64), mean, prec, 10, 1.0, 0.5)
    reference = UserRewardModel(prior_precision=1.0, tie_strength=0.5).fit(diffs, outcomes)
    assert torch.allclose(w[0], reference.weights_, atol=1e-6)


def test_meta_prior_learns_the_shared_preference_and_lowers_the_query_loss() -> None:
    users, diffs, outcomes = _users()
    prior = MetaPrior(meta_steps=40, users_per_step=8, lr=0.1, seed=0).fit(users, diffs, outcomes)
    assert prior.mean_[0] > 0.8
    assert abs(float(prior.mean_[1])) < 0.5
    early, late = sum(prior.history_[:8]) / 8, sum(prior.history_[-8:]) / 8
    assert late < early
    assert prior.precision_.shape == (3,) and bool((prior.precision_ > 0).all())


def test_robust_objective_weighs_the_worst_users_more_than_the_mean() -> None:
    losses = torch.tensor([0.1, 0.1, 0.1, 2.0], dtype=torch.float64)
    robust = MetaPrior(robust_temperature=0.5)._robust(losses)
    plain = MetaPrior(robust_temperature=None)._robust(losses)
    assert plain == losses.mean()
    assert losses.mean() < robust <= losses.max()


def test_user_model_uses_the_learned_prior_and_state_round_trips() -> None:
    users, diffs, outcomes = _users(10, 10)
    prior = MetaPrior(meta_steps=5, users_per_step=4).fit(users, diffs, outcomes)
    model = prior.user_model()
    assert torch.equal(model.prior_mean, prior.mean_)
    again = MetaPrior.from_state(prior.to_state())
    assert torch.allclose(again.mean_, prior.mean_) and torch.allclose(again.precision_, prior.precision_)
