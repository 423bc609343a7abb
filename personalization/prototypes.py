"""Prototypes of users (P-GenRM, "Personalized generative reward models with test-time user-based scaling"):
clusters of user weight vectors with a model-selected k, soft assignment, ids kept stable across refits, a
prototype-level prior for cold-start users, and dual-granularity test-time scaling of rewards.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture

from personalization.user_model import UserRewardModel, log_evidence, user_fit

CRITERIA = ("bic", "silhouette")


class PrototypeModel:
    """Gaussian mixture over users' weight vectors; k chosen by BIC (or silhouette) within ``k_range``.

    Parameters: ``k_range`` candidate k; ``criterion`` ``bic`` or ``silhouette``; ``reg_covar`` added to each
    covariance's diagonal (it also floors the prototype prior's variance); ``n_components``: cluster on the top
    principal components of the weights (few-vote users' weights are noisy in every direction, and the noise
    dimensions drown the cluster structure for BIC), ``None`` for the full space; ``seed``. Whatever space the
    clustering runs in, each prototype's mean and covariance are the responsibility-weighted moments of its
    members' full weight vectors, so the prototype prior lives in the bank's K dimensions.

    Learned state: ``k_``, ``means_`` (k, K), ``covariances_`` (k, K, K), ``mix_`` (k,), ``ids_`` (stable
    integer ids, one per prototype), ``criterion_scores_`` {k: score}, ``members_`` (U, K), ``member_keys_``,
    ``member_labels_`` (U,) index of each member's prototype. ``member_keys_`` is empty when no keys were given.
    """

    def __init__(
        self, k_range: tuple[int, ...] = (1, 2, 3, 4, 5, 6), criterion: str = "bic", reg_covar: float = 1e-2,
        n_components: int | None = 2, seed: int = 0,
    ) -> None:
        self.k_range = k_range
        self.criterion = criterion
        self.reg_covar = reg_covar
        self.n_components = n_components
        self.seed = seed

    def fit(
        self, user_weights: torch.Tensor, user_keys: Sequence[Hashable] | None = None,
        previous: PrototypeModel | None = None,
    ) -> PrototypeModel:
        """Cluster ``user_weights`` (U, K); with ``previous``, prototypes keep the ids of the ones they match."""
        if self.criterion not in CRITERIA:
            raise ValueError(f"criterion must be one of {CRITERIA}")
        full_x = torch.as_tensor(user_weights, dtype=torch.float64).cpu().numpy()  # (U, K)
        self.center_ = full_x.mean(0)
        if self.n_components is not None and self.n_components < full_x.shape[1] and full_x.shape[0] > 1:
            _, _, vt = np.linalg.svd(full_x - self.center_, full_matrices=False)
            self.components_ = vt[: self.n_components].T  # (K, P)
        else:
            self.components_ = np.eye(full_x.shape[1])
        x = (full_x - self.center_) @ self.components_  # (U, P)
        n_users, dim = x.shape
        covariance_type = "full" if n_users > 4 * dim else "diag"
        self.criterion_scores_: dict[int, float] = {}
        fits: dict[int, GaussianMixture] = {}
        for k in self.k_range:
            if k > n_users or (self.criterion == "silhouette" and not 2 <= k < n_users):
                continue
            gm = GaussianMixture(k, covariance_type=covariance_type, reg_covar=self.reg_covar, n_init=3,
                                 random_state=self.seed).fit(x)
            fits[k] = gm
            if self.criterion == "bic":
                self.criterion_scores_[k] = -float(gm.bic(x))
            else:
                labels = gm.predict(x)
                ok = len(set(labels.tolist())) > 1
                self.criterion_scores_[k] = float(silhouette_score(x, labels)) if ok else -1.0
        if not fits:
            raise ValueError("no candidate k fits this many users")
        self.k_ = max(self.criterion_scores_, key=lambda k: self.criterion_scores_[k])
        gm = fits[self.k_]
        resp = gm.predict_proba(x)  # (U, k)
        mass = resp.sum(0) + 1e-12  # (k,)
        means = (resp.T @ full_x) / mass[:, None]  # (k, K)
        covs = []
        for c in range(self.k_):
            centred = full_x - means[c]
            covs.append((resp[:, c, None] * centred).T @ centred / mass[c] + self.reg_covar * np.eye(full_x.shape[1]))
        self.means_ = torch.tensor(means)  # (k, K)
        self.covariances_ = torch.tensor(np.stack(covs))  # (k, K, K)
        self.mix_ = torch.tensor(gm.weights_)  # (k,)
        self.members_ = torch.tensor(full_x)
        self.member_keys_: list[Hashable] = list(user_keys) if user_keys is not None else []
        self.member_labels_ = torch.tensor(resp.argmax(1))
        self.ids_ = self._stable_ids(previous)
        return self

    @classmethod
    def from_mixture(
        cls, means: torch.Tensor, mix: torch.Tensor, responsibilities: torch.Tensor,
        user_keys: Sequence[Hashable] | None = None, previous: PrototypeModel | None = None,
        reg_covar: float = 1e-2, criterion_scores: dict[int, float] | None = None,
    ) -> PrototypeModel:
        """Prototypes that were learned from the votes themselves (``mixture.BradleyTerryMixture``) rather than by
        clustering weight vectors: ``means`` (k, K) the prototypes' weights on the bank, ``mix`` (k,),
        ``responsibilities`` (U, k) of the training users. Each prototype's prior is ``N(mean, reg_covar · I)``,
        so a new user's posterior over prototypes is the mixture's own; members are the users' expected weights.
        """
        model = cls(k_range=(int(means.shape[0]),), reg_covar=reg_covar)
        means = torch.as_tensor(means, dtype=torch.float64)
        resp = torch.as_tensor(responsibilities, dtype=torch.float64)  # (U, k)
        model.k_ = int(means.shape[0])
        model.means_ = means
        model.covariances_ = reg_covar * torch.eye(means.shape[1], dtype=torch.float64).expand(model.k_, -1, -1).clone()
        model.mix_ = torch.as_tensor(mix, dtype=torch.float64)
        model.members_ = resp @ means  # (U, K)
        model.member_keys_ = list(user_keys) if user_keys is not None else []
        model.member_labels_ = resp.argmax(1)
        model.criterion_scores_ = dict(criterion_scores or {})
        model.ids_ = model._stable_ids(previous)
        return model

    def _stable_ids(self, previous: PrototypeModel | None) -> list[int]:
        """Hungarian matching of new prototypes to previous ones (Kuhn 1955); unmatched ones get fresh ids.

        The cost is the share of members two prototypes do not have in common when the refit shares users with
        the previous one (this survives a bank refit, which changes the weight space), else the distance between
        means (same space only).
        """
        if previous is None or not hasattr(previous, "means_"):
            return list(range(self.k_))
        old_members = {str(k): int(label) for k, label in zip(previous.member_keys_, previous.member_labels_.tolist(),
                                                              strict=False)}
        new_members = {str(k): int(label) for k, label in zip(self.member_keys_, self.member_labels_.tolist(),
                                                              strict=False)}
        shared = old_members.keys() & new_members.keys()
        if shared:
            overlap = np.zeros((self.k_, previous.k_))  # (k_new, k_old) shared members
            for key in shared:
                overlap[new_members[key], old_members[key]] += 1
            sizes_new = np.bincount([new_members[k] for k in shared], minlength=self.k_)[:, None]
            sizes_old = np.bincount([old_members[k] for k in shared], minlength=previous.k_)[None, :]
            cost = 1.0 - overlap / np.maximum(sizes_new + sizes_old - overlap, 1)  # 1 − Jaccard
        elif previous.means_.shape[1] == self.means_.shape[1]:
            cost = torch.cdist(self.means_, previous.means_).numpy()  # (k_new, k_old)
        else:
            return list(range(max(previous.ids_, default=-1) + 1, max(previous.ids_, default=-1) + 1 + self.k_))
        rows, cols = linear_sum_assignment(cost)
        ids = [-1] * self.k_
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            ids[r] = previous.ids_[c]
        fresh = max(previous.ids_, default=-1) + 1
        for i in range(self.k_):
            if ids[i] < 0:
                ids[i], fresh = fresh, fresh + 1
        return ids

    def assign(self, user_weights: torch.Tensor) -> torch.Tensor:
        """(U, k) soft assignment of weight vectors to prototypes (posterior under the prototype Gaussians)."""
        x = torch.as_tensor(user_weights, dtype=torch.float64).reshape(-1, self.means_.shape[1])  # (U, K)
        log_p = torch.stack([_gaussian_log_pdf(x, self.means_[c], self.covariances_[c]) for c in range(self.k_)],
                            1) + self.mix_.log()  # (U, k)
        return torch.softmax(log_p, 1)

    def posterior(
        self, diffs: torch.Tensor, outcomes: torch.Tensor, strengths: torch.Tensor | None = None,
        tie_strength: float = 0.5,
    ) -> PrototypePosterior:
        """Cold-start-aware user posterior under the prototype-level prior (a mixture of Gaussians).

        One Laplace fit per prototype with prior ``N(μ_c, Σ_c)``; responsibilities ∝ mix_c · evidence_c. With no
        votes this is the prototype prior itself.
        """
        models, log_post = [], []
        for c in range(self.k_):
            eye = torch.eye(self.means_.shape[1], dtype=torch.float64)
            precision = torch.linalg.inv(self.covariances_[c] + self.reg_covar * eye)
            model = user_fit(diffs=diffs, outcomes=outcomes, strengths=strengths, prior_mean=self.means_[c],
                             prior_precision=precision, tie_strength=tie_strength)
            models.append(model)
            evidence = log_evidence(model) if model.n_votes_ else 0.0
            log_post.append(float(torch.log(self.mix_[c])) + evidence)
        log_post_t = torch.tensor(log_post, dtype=torch.float64)  # (k,)
        return PrototypePosterior(responsibilities=torch.softmax(log_post_t, 0), models=models,
                                  log_evidence=float(torch.logsumexp(log_post_t, 0)))

    def to_state(self) -> dict[str, object]:
        """JSON-safe state (the mixture, ids and members), for a database row."""
        return {
            "k": self.k_, "ids": self.ids_, "means": self.means_.tolist(), "covariances": self.covariances_.tolist(),
            "mix": self.mix_.tolist(), "members": self.members_.tolist(),
            "member_keys": [str(k) for k in self.member_keys_], "member_labels": self.member_labels_.tolist(),
            "reg_covar": self.reg_covar, "criterion_scores": {str(k): v for k, v in self.criterion_scores_.items()},
        }

    @classmethod
    def from_state(cls, state: dict[str, object]) -> PrototypeModel:
        model = cls(reg_covar=float(state["reg_covar"]))  # type: ignore[arg-type]
        model.k_ = int(state["k"])  # type: ignore[call-overload]
        model.ids_ = [int(i) for i in state["ids"]]  # type: ignore[attr-defined]
        model.means_ = torch.tensor(state["means"], dtype=torch.float64)
        model.covariances_ = torch.tensor(state["covariances"], dtype=torch.float64)
        model.mix_ = torch.tensor(state["mix"], dtype=torch.float64)
        model.members_ = torch.tensor(state["members"], dtype=torch.float64)
        model.member_keys_ = list(state["member_keys"])  # type: ignore[call-overload]
        model.member_labels_ = torch.tensor(state["member_labels"])
        model.criterion_scores_ = {int(k): float(v) for k, v in state["criterion_scores"].items()}  # type: ignore[attr-defined]
        return model


def _gaussian_log_pdf(x: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """(U,) log N(x; mean, cov) for rows of x (U, K)."""
    chol = torch.linalg.cholesky(cov)  # (K, K)
    z = torch.linalg.solve_triangular(chol, (x - mean).T, upper=False)  # (K, U)
    half_logdet = torch.log(torch.diagonal(chol)).sum()
    log_pdf: torch.Tensor = -0.5 * (z**2).sum(0) - half_logdet - 0.5 * x.shape[1] * math.log(2 * math.pi)
    return log_pdf


@dataclass
class PrototypePosterior:
    """A user's posterior under the prototype prior: per-prototype Laplace fits and their responsibilities."""

    responsibilities: torch.Tensor  # (k,)
    models: list[UserRewardModel]
    log_evidence: float = 0.0  # log p(votes | prototype prior), Laplace; 0 with no votes

    def moments(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Moment-matched single Gaussian (mean (K,), covariance (K, K)), e.g. for storing or active queries."""
        r = self.responsibilities
        means = torch.stack([m.weights_ for m in self.models])  # (k, K)
        mean = r @ means
        spread = means - mean  # (k, K)
        cov = sum((r[c] * (m.covariance_ + torch.outer(spread[c], spread[c])) for c, m in enumerate(self.models)),
                  torch.zeros_like(self.models[0].covariance_))
        return mean, cov

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, K) draws from the mixture posterior."""
        picks = torch.multinomial(self.responsibilities, n, replacement=True, generator=generator)  # (n,)
        draws = torch.stack([m.sample(n, generator) for m in self.models])  # (k, n, K)
        return draws[picks, torch.arange(n)]
