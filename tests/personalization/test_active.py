from __future__ import annotations

import pytest
import torch

from personalization.active import pair_next, pair_utilities

WEIGHTS = torch.tensor([1.0, 0.0], dtype=torch.float64)
COV = torch.diag(torch.tensor([0.01, 4.0], dtype=torch.float64))  # sure about axis 0, unsure about axis 1
CANDIDATES = torch.tensor([[3.0, 0.0], [0.0, 1.0], [0.1, 0.0], [0.0, 0.0]], dtype=torch.float64)


def test_information_prefers_the_pair_that_probes_the_uncertain_direction() -> None:
    assert pair_next(CANDIDATES, weights=WEIGHTS, covariance=COV, strategy="information", random_rate=0.0,
                     generator=torch.Generator().manual_seed(0)) == 1


def test_uncertainty_prefers_the_pair_closest_to_a_coin_flip_under_the_mean() -> None:
    utilities = pair_utilities(CANDIDATES, weights=WEIGHTS, covariance=COV, strategy="uncertainty")
    assert utilities[0] < utilities[2]
    assert int(utilities.argmax()) in (1, 3)


def test_a_pair_of_identical_answers_carries_no_information() -> None:
    utilities = pair_utilities(CANDIDATES, weights=WEIGHTS, covariance=COV, strategy="information",
                               generator=torch.Generator().manual_seed(0))
    assert abs(float(utilities[3])) < 1e-9
    assert bool((utilities >= -1e-9).all())


def test_random_rate_one_always_picks_uniformly() -> None:
    gen = torch.Generator().manual_seed(0)
    picks = {pair_next(CANDIDATES, weights=WEIGHTS, covariance=COV, random_rate=1.0, generator=gen) for _ in range(60)}
    assert picks == {0, 1, 2, 3}


def test_unknown_strategy_and_empty_candidates_are_rejected() -> None:
    with pytest.raises(ValueError, match="strategy"):
        pair_utilities(CANDIDATES, weights=WEIGHTS, covariance=COV, strategy="greedy")
    with pytest.raises(ValueError, match="no candidate"):
        pair_next(CANDIDATES[:0], weights=WEIGHTS, covariance=COV)
