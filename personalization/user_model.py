"""Per-user reward ``r_u(x, y) = w_u · φ(x, y)`` fitted from a few votes (PReF: users as weights over shared bases).

Likelihood: Bradley–Terry with Davidson's tie model (Davidson 1970, "On extending the Bradley–Terry model to
accommodate ties"); each vote weighted by its strength. Prior: Gaussian ``N(μ, Λ⁻¹)`` (μ from the meta-learned
initialisation or the user's prototype). Fit: MAP by Newton's method; posterior: Laplace ``N(w*, H⁻¹)``.
"""

from __future__ import annotations

import math

import torch

from personalization.devices import device_resolve

#: outcome codes for ``fit``: the first item of the difference was preferred, the second, or a tie.
OUTCOME_FIRST = 1
OUTCOME_SECOND = -1
OUTCOME_TIE = 0


def davidson_nll(scores: torch.Tensor, outcomes: torch.Tensor, tie_strength: float) -> torch.Tensor:
    """Per-vote negative log-likelihood under Davidson's model; ``scores`` (N,) = r(first) − r(second).

    P(first) ∝ e^{s/2}, P(second) ∝ e^{−s/2}, P(tie) ∝ ν; with ν = 0 this is plain Bradley–Terry.
    """
    half = scores / 2  # (N,)
    parts = [half, -half]
    if tie_strength > 0:
        parts.append(torch.full_like(half, math.log(tie_strength)))
    log_z = torch.logsumexp(torch.stack(parts, dim=-1), dim=-1)  # (N,)
    log_num = torch.where(
        outcomes == OUTCOME_FIRST, half, torch.where(outcomes == OUTCOME_SECOND, -half, torch.full_like(half, 0.0))
    )
    if tie_strength > 0:
        log_num = torch.where(outcomes == OUTCOME_TIE, torch.full_like(half, math.log(tie_strength)), log_num)
    return log_z - log_num



def davidson_proba(scores: torch.Tensor, tie_strength: float) -> torch.Tensor:
    """(..., 3) P(first), P(second), P(tie) under Davidson's model for ``scores`` (...) = r(first) − r(second)."""
    half = scores / 2
    tie = torch.full_like(half, math.log(tie_strength) if tie_strength > 0 else -math.inf)
    return torch.softmax(torch.stack([half, -half, tie], -1), -1)

class UserRewardModel:
    """MAP + Laplace Bradley–Terry/Davidson fit of one user's weights over K base rewards.

    Parameters
    ----------
    prior_mean: (K,) prior mean; zeros when ``None``.
    prior_precision: scalar or (K, K) prior precision Λ.
    tie_strength: Davidson ν ≥ 0 (how likely a tie is between equal answers, relative to a win).
    max_iter, tol: Newton iterations and stopping tolerance on the step norm.
    device: ``auto``, ``cpu``, ``cuda``...

    Learned state: ``weights_`` (K,), ``covariance_`` (K, K), ``precision_`` (K, K), ``n_votes_``, ``n_iter_``.
    """

    def __init__(
        self,
        prior_mean: torch.Tensor | None = None,
        prior_precision: float | torch.Tensor = 1.0,
        tie_strength: float = 0.5,
        max_iter: int = 30,
        tol: float = 1e-6,
        device: str = "cpu",
    ) -> None:
        self.prior_mean = prior_mean
        self.prior_precision = prior_precision
        self.tie_strength = tie_strength
        self.max_iter = max_iter
        self.tol = tol
        self.device = device

    def _prior(self, k: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        mean = torch.zeros(k, dtype=torch.float64, device=device)
        if self.prior_mean is not None:
            mean = torch.as_tensor(self.prior_mean, dtype=torch.float64, device=device).reshape(k)
        if isinstance(self.prior_precision, torch.Tensor):
            prec = self.prior_precision.to(device=device, dtype=torch.float64)
            if prec.ndim == 1:
                prec = torch.diag(prec)
        else:
            if self.prior_precision <= 0:
                raise ValueError("prior_precision must be positive")
            prec = float(self.prior_precision) * torch.eye(k, dtype=torch.float64, device=device)
        return mean, prec

    def _check(self, diffs: torch.Tensor, outcomes: torch.Tensor, weights: torch.Tensor) -> None:
        if diffs.ndim != 2:
            raise ValueError(f"diffs must be (N, K), got shape {tuple(diffs.shape)}")
        if outcomes.shape != (diffs.shape[0],) or weights.shape != (diffs.shape[0],):
            raise ValueError("outcomes and sample_weight must be (N,) like diffs' first dimension")
        bad = ~torch.isin(outcomes, torch.tensor([OUTCOME_FIRST, OUTCOME_SECOND, OUTCOME_TIE], device=outcomes.device))
        if bool(bad.any()):
            raise ValueError("outcomes must be 1 (first preferred), -1 (second preferred) or 0 (tie)")
        if bool((weights < 0).any()) or not bool(torch.isfinite(diffs).all()):
            raise ValueError("sample_weight must be non-negative and diffs finite")

    def fit(
        self, diffs: torch.Tensor, outcomes: torch.Tensor, sample_weight: torch.Tensor | None = None,
        init: torch.Tensor | None = None,
    ) -> UserRewardModel:
        """Fit from ``diffs`` (N, K) = φ(first) − φ(second) and ``outcomes`` (N,) in {1, −1, 0}.

        ``init`` (K,) starts Newton there instead of at the prior mean (a warm start; same optimum)."""
        device = device_resolve(self.device)
        d = torch.as_tensor(diffs, dtype=torch.float64).to(device)  # (N, K)
        y = torch.as_tensor(outcomes, dtype=torch.int64).to(device)  # (N,)
        c = (
            torch.ones(d.shape[0], dtype=torch.float64, device=device)
            if sample_weight is None
            else torch.as_tensor(sample_weight, dtype=torch.float64).to(device)
        )  # (N,)
        self._check(d, y, c)
        mean, prec = self._prior(d.shape[1], device)
        start = mean.clone() if init is None else torch.as_tensor(init, dtype=torch.float64).to(device)
        self.weights_, self.precision_ = self._newton(d, y, c, mean, prec, start)
        self.covariance_ = torch.linalg.inv(self.precision_)
        self.n_votes_ = int(d.shape[0])
        self.prior_mean_, self.prior_precision_ = mean, prec
        self._data = (d, y, c)
        return self

    def partial_fit(self, diff: torch.Tensor, outcome: int, weight: float = 1.0) -> UserRewardModel:
        """Add one vote and refit from all votes seen so far (warm-started, so a step or two of Newton)."""
        if not hasattr(self, "weights_"):
            return self.fit(diff.reshape(1, -1), torch.tensor([outcome]), torch.tensor([weight]))
        d, y, c = self._data
        d = torch.cat([d, torch.as_tensor(diff, dtype=torch.float64, device=d.device).reshape(1, -1)])
        y = torch.cat([y, torch.tensor([outcome], device=y.device)])
        c = torch.cat([c, torch.tensor([weight], dtype=torch.float64, device=c.device)])
        self._check(d, y, c)
        self.weights_, self.precision_ = self._newton(d, y, c, self.prior_mean_, self.prior_precision_, self.weights_)
        self.covariance_ = torch.linalg.inv(self.precision_)
        self.n_votes_ = int(d.shape[0])
        self._data = (d, y, c)
        return self

    def _newton(
        self,
        d: torch.Tensor,
        y: torch.Tensor,
        c: torch.Tensor,
        mean: torch.Tensor,
        prec: torch.Tensor,
        w: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        nu = self.tie_strength
        hessian = prec
        self.n_iter_ = 0
        for _ in range(self.max_iter):
            self.n_iter_ += 1
            a = (d @ w) / 2  # (N,) half score
            z = torch.stack([a, -a, torch.full_like(a, math.log(nu) if nu > 0 else -math.inf)], -1)
            p = torch.softmax(z, dim=-1)  # (N, 3): P(first), P(second), P(tie)
            expected = p[:, 0] - p[:, 1]  # E[indicator(first) − indicator(second)]
            observed = (y == OUTCOME_FIRST).double() - (y == OUTCOME_SECOND).double()
            grad = -(d.T @ (c * (observed - expected))) / 2 + prec @ (w - mean)  # (K,)
            curvature = c * (p[:, 0] + p[:, 1] - expected**2) / 4  # (N,)
            hessian = (d.T * curvature) @ d + prec  # (K, K)
            step = torch.linalg.solve(hessian, grad)
            w = w - step
            if float(step.norm()) < self.tol:
                break
        return w, hessian

    def score(self, features: torch.Tensor) -> torch.Tensor:
        """Reward ``w · φ`` of each row of ``features`` (N, K)."""
        return torch.as_tensor(features, dtype=torch.float64).to(self.weights_.device) @ self.weights_

    def predict_proba(self, diffs: torch.Tensor) -> torch.Tensor:
        """(N, 3) probabilities of first preferred, second preferred, tie at the MAP weights."""
        return davidson_proba(self.score(diffs), self.tie_strength)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, K) draws of the weights from the Laplace posterior."""
        chol = torch.linalg.cholesky(self.covariance_)
        noise = torch.randn(n, self.weights_.shape[0], dtype=torch.float64, generator=generator)
        draws: torch.Tensor = self.weights_ + noise.to(chol.device) @ chol.T  # (n, K)
        return draws


def log_evidence(model: UserRewardModel) -> float:
    """Laplace approximation of log p(votes | prior) for a fitted model (used to weigh prototype priors).

    log p(D) ≈ log p(D | w*) + log N(w*; μ, Λ⁻¹) + K/2 log 2π − ½ log|H| (MacKay 1992, "Bayesian interpolation").
    """
    d, y, c = model._data
    nll = float((davidson_nll(d @ model.weights_, y, model.tie_strength) * c).sum())
    offset = model.weights_ - model.prior_mean_  # (K,)
    log_prior = -0.5 * float(offset @ model.prior_precision_ @ offset) + 0.5 * float(
        torch.linalg.slogdet(model.prior_precision_)[1]
    )
    return -nll + log_prior - 0.5 * float(torch.linalg.slogdet(model.precision_)[1])


def user_fit(
    *,
    diffs: torch.Tensor,
    outcomes: torch.Tensor,
    strengths: torch.Tensor | None = None,
    prior_mean: torch.Tensor | None = None,
    prior_precision: float | torch.Tensor = 1.0,
    tie_strength: float = 0.5,
    device: str = "cpu",
) -> UserRewardModel:
    """Fit one user from stored votes (``diffs`` (N, K) = φ(first) − φ(second) on the current bank).

    "Both bad" votes carry no preference between the two answers and must be left out by the caller. With no
    votes the model is the prior itself (weights = prior mean, covariance = prior covariance).
    """
    model = UserRewardModel(prior_mean=prior_mean, prior_precision=prior_precision, tie_strength=tie_strength,
                            device=device)
    d = torch.as_tensor(diffs, dtype=torch.float64)
    if d.shape[0] == 0:
        k = d.shape[1]
        mean, prec = model._prior(k, device_resolve(device))
        model.weights_, model.precision_, model.covariance_ = mean, prec, torch.linalg.inv(prec)
        model.prior_mean_, model.prior_precision_ = mean, prec
        model.n_votes_ = 0
        empty = d.to(mean.device)
        model._data = (empty, torch.zeros(0, dtype=torch.int64, device=mean.device), empty[:, 0])
        return model
    return model.fit(d, outcomes, strengths)
