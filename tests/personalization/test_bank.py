from __future__ import annotations

from pathlib import Path

import torch

from personalization.bank import BaseRewardBank


def _bank() -> BaseRewardBank:
    gen = torch.Generator().manual_seed(0)
    bank = BaseRewardBank(version=2, encoder="tiny").fit_axes(torch.rand(50, 8, generator=gen))
    return bank.set_latent(torch.randn(6, 3, generator=gen))


def test_features_are_standardised_axes_then_latent_projections() -> None:
    bank = _bank()
    axes, emb = torch.rand(4, 8), torch.randn(4, 6)
    feats = bank.features(axes, emb)
    assert feats.shape == (4, 11) and bank.names_[-1] == "latent_3"
    assert torch.allclose(feats[:, 8:], emb @ bank.latent_)


def test_pair_diffs_are_first_minus_second_features() -> None:
    bank = _bank()
    a1, a2, e1, e2 = torch.rand(3, 8), torch.rand(3, 8), torch.randn(3, 6), torch.randn(3, 6)
    diffs = bank.pair_diffs(a1, e1, a2, e2)
    assert diffs.dtype == torch.float64
    assert torch.allclose(diffs.float(), bank.features(a1, e1) - bank.features(a2, e2), atol=1e-6)


def test_save_load_and_state_round_trip(tmp_path: Path) -> None:
    bank = _bank()
    axes, emb = torch.rand(4, 8), torch.randn(4, 6)
    loaded = BaseRewardBank.load(bank.save(tmp_path / "bank"))
    restored = BaseRewardBank.from_state(bank.to_state())
    for other in (loaded, restored):
        assert other.version == 2 and other.names_ == bank.names_
        assert torch.allclose(other.features(axes, emb), bank.features(axes, emb))
