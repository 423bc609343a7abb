from __future__ import annotations

import torch

from personalization.prototypes import PrototypeModel
from personalization.scaling import dual_granularity_proba, dual_granularity_score, user_confidence
from personalization.user_model import UserRewardModel


def _prototypes() -> PrototypeModel:
    gen = torch.Generator().manual_seed(0)
    weights = torch.cat([torch.tensor([2.0, 0.0]) + 0.1 * torch.randn(20, 2, generator=gen),
                         torch.tensor([-2.0, 0.0]) + 0.1 * torch.randn(20, 2, generator=gen)]).double()
    return PrototypeModel(k_range=(2,), n_components=None).fit(weights)


def test_confidence_along_probed_pairs_ignores_directions_the_votes_never_touched() -> None:
    prototypes = _prototypes()
    posterior = prototypes.posterior(torch.tensor([[1.0, 0.0]] * 20, dtype=torch.float64), torch.ones(20))
    touched = user_confidence(posterior, prototypes, probe=torch.tensor([[1.0, 0.0]], dtype=torch.float64))
    untouched = user_confidence(posterior, prototypes, probe=torch.tensor([[0.0, 1.0]], dtype=torch.float64))
    assert touched > 0.5 > untouched


def test_confidence_grows_with_votes() -> None:
    prototypes = _prototypes()
    diffs = torch.tensor([[1.0, 0.3]] * 30, dtype=torch.float64)
    none = prototypes.posterior(diffs[:0], torch.zeros(0))
    some = prototypes.posterior(diffs[:3], torch.ones(3))
    many = prototypes.posterior(diffs, torch.ones(30))
    assert user_confidence(none, prototypes) < user_confidence(some, prototypes) < user_confidence(many, prototypes)
    assert user_confidence(none, prototypes) < 0.05


def test_cold_start_user_is_scored_by_the_prototype_level() -> None:
    prototypes = _prototypes()
    posterior = prototypes.posterior(torch.zeros(0, 2), torch.zeros(0))
    probe = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    blended = dual_granularity_proba(probe, posterior=posterior, prototypes=prototypes, confidence=0.0)
    assert abs(float(blended[0]) - 0.5) < 0.1  # two opposite prototypes, equal weight: undecided


def test_votes_for_one_prototype_make_both_levels_agree_with_it() -> None:
    prototypes = _prototypes()
    diffs = torch.tensor([[1.0, 0.0]] * 5, dtype=torch.float64)
    posterior = prototypes.posterior(diffs, torch.ones(5))
    probe = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    for confidence in (0.0, 1.0, None):
        proba = dual_granularity_proba(probe, posterior=posterior, prototypes=prototypes, confidence=confidence,
                                       generator=torch.Generator().manual_seed(0))
        assert proba[0] > 0.8 and proba[1] < 0.2


def test_an_individual_model_replaces_the_individual_level() -> None:
    prototypes = _prototypes()
    posterior = prototypes.posterior(torch.zeros(0, 2), torch.zeros(0))
    individual = UserRewardModel(prior_precision=1.0).fit(torch.tensor([[0.0, 1.0]] * 8, dtype=torch.float64),
                                                          torch.ones(8))
    probe = torch.tensor([[0.0, 1.0]], dtype=torch.float64)  # the prototypes are indifferent along this axis
    proba = dual_granularity_proba(probe, posterior=posterior, prototypes=prototypes, individual=individual,
                                   confidence=1.0, generator=torch.Generator().manual_seed(0))
    assert proba[0] > 0.7


def test_dual_granularity_score_ranks_candidates_for_reranking() -> None:
    prototypes = _prototypes()
    posterior = prototypes.posterior(torch.tensor([[1.0, 0.0]] * 5, dtype=torch.float64), torch.ones(5))
    features = torch.tensor([[-1.0, 0.0], [0.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    scores = dual_granularity_score(features, posterior=posterior, prototypes=prototypes)
    assert scores.argsort().tolist() == [0, 1, 2]
