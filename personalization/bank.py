"""Base reward bank ``φ(x, y) ∈ R^K``: standardised named axes plus learned latent bases ``Vᵀe(x, y)``.

PReF / LoRe: every user's reward is a weighted sum of shared bases. The named axes make weights readable; the
latent bases (fitted by low-rank factorization of everyone's votes, see ``factorization``) capture what the axes
miss. A bank is versioned and saved as ``bank.safetensors`` + ``bank.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from personalization.axes import AXIS_NAMES


class BaseRewardBank:
    """Maps raw axis scores (N, A) and embeddings (N, d) to reward features (N, K = A + L).

    Learned state: ``axis_mean_`` (A,), ``axis_std_`` (A,), ``latent_`` (d, L) or ``None``, ``names_``.
    """

    def __init__(self, version: int = 1, encoder: str = "", latent_rank: int = 0) -> None:
        self.version = version
        self.encoder = encoder
        self.latent_rank = latent_rank

    def fit_axes(self, axis_scores: torch.Tensor) -> BaseRewardBank:
        """Standardise the named axes over a response pool so weights are comparable across axes."""
        scores = torch.as_tensor(axis_scores, dtype=torch.float32)  # (N, A)
        if scores.ndim != 2 or scores.shape[1] != len(AXIS_NAMES):
            raise ValueError(f"axis_scores must be (N, {len(AXIS_NAMES)})")
        self.axis_mean_ = scores.mean(0)
        self.axis_std_ = scores.std(0).clamp(min=1e-3) if scores.shape[0] > 1 else torch.ones(scores.shape[1])
        if not hasattr(self, "latent_"):
            self.latent_: torch.Tensor | None = None
        self.names_ = list(AXIS_NAMES) + [f"latent_{i + 1}" for i in range(self.n_latent)]
        return self

    def set_latent(self, latent: torch.Tensor | None) -> BaseRewardBank:
        """Install latent bases ``V`` (d, L) learned by factorization (or remove them with ``None``)."""
        self.latent_ = None if latent is None else torch.as_tensor(latent, dtype=torch.float32)
        self.latent_rank = self.n_latent
        self.names_ = list(AXIS_NAMES) + [f"latent_{i + 1}" for i in range(self.n_latent)]
        return self

    @property
    def n_latent(self) -> int:
        latent = getattr(self, "latent_", None)
        return 0 if latent is None else int(latent.shape[1])

    @property
    def dim(self) -> int:
        return len(AXIS_NAMES) + self.n_latent

    def features(self, axis_scores: torch.Tensor, embeddings: torch.Tensor | None = None) -> torch.Tensor:
        """φ for each response: (N, A) standardised axes, then (N, L) latent projections when present."""
        axes = self._axes(axis_scores)  # (N, A)
        if self.latent_ is None:
            return axes
        if embeddings is None:
            raise ValueError("this bank has latent bases: embeddings are required")
        latent = torch.as_tensor(embeddings, dtype=torch.float32) @ self.latent_  # (N, L)
        return torch.cat([axes, latent], dim=1)

    def named_features(self, axis_scores: torch.Tensor) -> torch.Tensor:
        """(N, K) φ for fresh text (e.g. new generations): the standardised named axes, zero for every latent basis.

        The latent bases are fitted on the embeddings of the pool that users voted on; on the generator's own new
        samples their rewards do not follow users' true rewards (within-prompt correlation −0.05, against 0.33 for
        the named axes: ``benchmarks/reward_transfer.py``), so reranking fresh candidates uses the named part of a
        user's reward only. Same width as ``features``, so the user's weights and prototypes apply unchanged.
        """
        axes = self._axes(axis_scores)  # (N, A)
        return torch.cat([axes, axes.new_zeros(axes.shape[0], self.n_latent)], dim=1)

    def _axes(self, axis_scores: torch.Tensor) -> torch.Tensor:
        """(N, A) raw axis scores standardised over the pool (``fit_axes``)."""
        return (torch.as_tensor(axis_scores, dtype=torch.float32) - self.axis_mean_) / self.axis_std_

    def pair_diffs(
        self, axes_first: torch.Tensor, emb_first: torch.Tensor | None, axes_second: torch.Tensor,
        emb_second: torch.Tensor | None,
    ) -> torch.Tensor:
        """(N, K) float64 feature differences φ(first) − φ(second): what ``UserRewardModel.fit`` takes per vote."""
        first = self.features(axes_first, emb_first)  # (N, K)
        return (first - self.features(axes_second, emb_second)).double()

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {"axis_mean": self.axis_mean_, "axis_std": self.axis_std_}
        if self.latent_ is not None:
            tensors["latent"] = self.latent_.contiguous()
        save_file(tensors, str(directory / "bank.safetensors"))
        meta = {"version": self.version, "encoder": self.encoder, "names": self.names_}
        (directory / "bank.json").write_text(json.dumps(meta, indent=2))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> BaseRewardBank:
        directory = Path(directory)
        meta = json.loads((directory / "bank.json").read_text())
        tensors = load_file(str(directory / "bank.safetensors"))
        bank = cls(version=int(meta["version"]), encoder=str(meta["encoder"]))
        bank.axis_mean_, bank.axis_std_ = tensors["axis_mean"], tensors["axis_std"]
        bank.set_latent(tensors.get("latent"))
        return bank

    def to_state(self) -> dict[str, object]:
        """JSON-safe state, for storing a bank in a database row."""
        return {
            "version": self.version,
            "encoder": self.encoder,
            "names": self.names_,
            "axis_mean": self.axis_mean_.tolist(),
            "axis_std": self.axis_std_.tolist(),
            "latent": None if self.latent_ is None else self.latent_.tolist(),
        }

    @classmethod
    def from_state(cls, state: dict[str, object]) -> BaseRewardBank:
        bank = cls(version=int(state["version"]), encoder=str(state["encoder"]))  # type: ignore[call-overload]
        bank.axis_mean_ = torch.tensor(state["axis_mean"], dtype=torch.float32)
        bank.axis_std_ = torch.tensor(state["axis_std"], dtype=torch.float32)
        latent = state.get("latent")
        bank.set_latent(None if latent is None else torch.tensor(latent, dtype=torch.float32))
        return bank
