"""Synthetic votes shared by the personalization tests."""

from __future__ import annotations

import torch


def two_type_votes(
    n_users: int = 24, votes: int = 40, d: int = 12, seed: int = 0
) -> tuple[list[int], torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Users of two opposite types over embeddings; returns users, axes/emb first & second, outcomes, types."""
    gen = torch.Generator().manual_seed(seed)
    direction = torch.randn(d, generator=gen)
    direction = 3 * direction / direction.norm()
    users: list[int] = []
    types = torch.tensor([u % 2 for u in range(n_users)])
    rows = n_users * votes
    emb_first, emb_second = torch.randn(rows, d, generator=gen), torch.randn(rows, d, generator=gen)
    axes_first, axes_second = torch.rand(rows, 8, generator=gen), torch.rand(rows, 8, generator=gen)
    outcomes = torch.empty(rows, dtype=torch.int64)
    for u in range(n_users):
        sl = slice(u * votes, (u + 1) * votes)
        sign = 1.0 if types[u] == 0 else -1.0
        score = sign * (emb_first[sl] - emb_second[sl]) @ direction
        outcomes[sl] = torch.where(torch.rand(votes, generator=gen) < torch.sigmoid(score), 1, -1)
        users += [u] * votes
    return users, axes_first, axes_second, emb_first, emb_second, outcomes
