"""The map's 2-D projection of users' weight vectors (PCA), in numpy so the web process can use it.

The basis is fitted when prototypes are refitted and stored with the fit, so between refits points move only
because their weights moved; a new basis is sign-aligned with the previous one so the axes never flip.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import numpy as np

#: a projected point farther than this (in units of the fit's scale) is drawn at the edge
EDGE = 1.1


class Projection(TypedDict):
    bank_id: int | None
    center: list[float]  # (K,)
    basis: list[list[float]]  # (K, 2)
    scale: float


def projection_fit(
    weights: Sequence[Sequence[float]], *, bank_id: int | None, previous: Projection | None = None,
) -> Projection:
    """PCA basis (K, 2) of ``weights`` (U, K), signs aligned with ``previous`` (same bank and K) or made
    deterministic (largest loading positive); ``scale`` maps the farthest user to radius 1."""
    x = np.asarray(weights, dtype=np.float64)  # (U, K)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError("need at least one weight vector")
    k = x.shape[1]
    center = x.mean(0)  # (K,)
    centred = x - center
    if x.shape[0] > 1 and np.abs(centred).max() > 0:
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        basis = vt[:2].T  # (K, ≤2)
    else:
        basis = np.zeros((k, 0))
    if basis.shape[1] < 2:  # fewer than two directions of spread: complete with the first unused axes
        missing = 2 - basis.shape[1]
        extra = [np.eye(k)[i] if i < k else np.zeros(k) for i in range(missing)]
        basis = np.column_stack([basis, *extra])
    prev = np.asarray(previous["basis"], dtype=np.float64) if previous and previous.get("basis") else None
    for j in range(2):
        if prev is not None and prev.shape == basis.shape and previous and previous.get("bank_id") == bank_id:
            sign = np.sign(prev[:, j] @ basis[:, j]) or 1.0
        else:
            sign = np.sign(basis[np.argmax(np.abs(basis[:, j])), j]) or 1.0
        basis[:, j] *= sign
    radius = np.sqrt(((centred @ basis) ** 2).sum(1)).max() if x.shape[0] else 0.0
    return Projection(bank_id=bank_id, center=center.tolist(), basis=basis.tolist(),
                      scale=float(radius) if radius > 1e-9 else 1.0)


def projection_apply(projection: Projection, weights: Sequence[Sequence[float]]) -> list[tuple[float, float]]:
    """(x, y) of each weight vector, in units of the fit's scale, kept within ``EDGE`` of the centre."""
    x = np.asarray(weights, dtype=np.float64)  # (U, K)
    if x.size == 0:
        return []
    center = np.asarray(projection["center"], dtype=np.float64)
    basis = np.asarray(projection["basis"], dtype=np.float64)  # (K, 2)
    xy = (x - center) @ basis / float(projection["scale"] or 1.0)  # (U, 2)
    norm = np.sqrt((xy**2).sum(1, keepdims=True))
    xy = np.where(norm > EDGE, xy * EDGE / np.maximum(norm, 1e-12), xy)
    return [(round(float(a), 4), round(float(b), 4)) for a, b in xy]
