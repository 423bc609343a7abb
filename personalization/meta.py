"""Meta-learned prior over user weights (MRM: meta reward modelling with the Robust Personalization Objective).

MAML-style (Finn et al. 2017) with a proximal inner loop as in iMAML (Rajeswaran et al. 2019): for each training
user, a few shots are drawn as support; the inner loop is a few differentiable Newton steps of the MAP fit under
the prior ``N(μ, diag(λ)⁻¹)`` from ``μ``; the outer loss is the query votes' Davidson NLL. The prior mean ``μ``, the
precision ``λ`` and the inner step size are learned. The Robust Personalization Objective up-weights badly fitted
users softly: the outer loss is the tilted mean ``τ · log mean_u exp(ℓ_u / τ)`` (τ → ∞ is the plain mean).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import torch

from personalization.devices import device_resolve
from personalization.user_model import OUTCOME_FIRST, OUTCOME_SECOND, UserRewardModel, davidson_nll


def newton_adapt(
    d: torch.Tensor, y: torch.Tensor, c: torch.Tensor, mean: torch.Tensor, precision: torch.Tensor,
    steps: int, step_size: torch.Tensor | float, tie_strength: float,
) -> torch.Tensor:
    """Batched, differentiable MAP Newton steps from the prior mean; d (U, S, K), y (U, S), c (U, S) → (U, K)."""
    u, _, k = d.shape
    w = mean.expand(u, k)  # (U, K)
    log_nu = math.log(tie_strength) if tie_strength > 0 else -math.inf
    observed = (y == OUTCOME_FIRST).to(d.dtype) - (y == OUTCOME_SECOND).to(d.dtype)  # (U, S)
    for _ in range(steps):
        a = torch.einsum("usk,uk->us", d, w) / 2  # (U, S)
        p = torch.softmax(torch.stack([a, -a, torch.full_like(a, log_nu)], -1), -1)  # (U, S, 3)
        expected = p[..., 0] - p[..., 1]  # (U, S)
        grad = -torch.einsum("usk,us->uk", d, c * (observed - expected)) / 2 + precision * (w - mean)  # (U, K)
        curvature = c * (p[..., 0] + p[..., 1] - expected**2) / 4  # (U, S)
        hessian = torch.einsum("usk,us,usj->ukj", d, curvature, d) + torch.diag_embed(precision.expand(u, k))
        w = w - step_size * torch.linalg.solve(hessian, grad.unsqueeze(-1)).squeeze(-1)
    return w


class MetaPrior:
    """Learns the prior ``N(mean_, diag(precision_)⁻¹)`` that makes a few votes go furthest, across users.

    Parameters: ``shots`` support sizes drawn per task; ``query_size`` query votes per task; ``inner_steps`` Newton
    steps; ``meta_steps`` outer Adam steps of ``users_per_step`` tasks with learning rate ``lr``;
    ``robust_temperature`` τ of the tilted objective (``None`` = plain mean); ``init_precision``; ``tie_strength``;
    ``seed``; ``device``.

    Learned state: ``mean_`` (K,), ``precision_`` (K,), ``step_size_``, ``history_`` (outer loss per step).

    Serving fits a user to the MAP under this prior (``user_model``; Newton to convergence, plus the Laplace
    covariance); the learned step size only shapes the truncated inner loop during meta-training.
    """

    def __init__(
        self,
        shots: tuple[int, ...] = (1, 2, 5, 10, 20),
        query_size: int = 32,
        inner_steps: int = 4,
        meta_steps: int = 300,
        users_per_step: int = 64,
        lr: float = 0.05,
        robust_temperature: float | None = 1.0,
        init_precision: float = 1.0,
        tie_strength: float = 0.5,
        seed: int = 0,
        device: str = "cpu",
    ) -> None:
        self.shots = shots
        self.query_size = query_size
        self.inner_steps = inner_steps
        self.meta_steps = meta_steps
        self.users_per_step = users_per_step
        self.lr = lr
        self.robust_temperature = robust_temperature
        self.init_precision = init_precision
        self.tie_strength = tie_strength
        self.seed = seed
        self.device = device

    def fit(
        self, users: Sequence[Hashable], diffs: torch.Tensor, outcomes: torch.Tensor,
        init_mean: torch.Tensor | None = None,
    ) -> MetaPrior:
        """Meta-train on training users' votes: ``diffs`` (N, K) bank feature differences, ``outcomes`` (N,)."""
        device = device_resolve(self.device)
        d_all = torch.as_tensor(diffs, dtype=torch.float64).to(device)  # (N, K)
        y_all = torch.as_tensor(outcomes, dtype=torch.int64).to(device)  # (N,)
        groups: dict[Hashable, list[int]] = {}
        for i, user in enumerate(users):
            groups.setdefault(user, []).append(i)
        tasks = [torch.tensor(rows, device=device) for rows in groups.values() if len(rows) >= 2]
        if not tasks:
            raise ValueError("meta-training needs users with at least two votes")
        k = d_all.shape[1]
        gen = torch.Generator().manual_seed(self.seed)
        mean = (torch.zeros(k, dtype=torch.float64) if init_mean is None else torch.as_tensor(
            init_mean, dtype=torch.float64).clone()).to(device).requires_grad_()
        log_prec = torch.full((k,), math.log(self.init_precision), dtype=torch.float64, device=device,
                              requires_grad=True)
        log_step = torch.zeros((), dtype=torch.float64, device=device, requires_grad=True)
        opt = torch.optim.Adam([mean, log_prec, log_step], lr=self.lr)
        self.history_: list[float] = []
        for _ in range(self.meta_steps):
            pick = torch.randint(len(tasks), (min(self.users_per_step, len(tasks)),), generator=gen)
            n_shot = self.shots[int(torch.randint(len(self.shots), (1,), generator=gen))]
            batch = self._batch([tasks[int(i)] for i in pick], n_shot, gen)
            sd, sy, sc, qd, qy, qc = (t.to(device) for t in self._gather(batch, d_all, y_all))
            w = newton_adapt(sd, sy, sc, mean, log_prec.exp(), self.inner_steps, log_step.exp(), self.tie_strength)
            nll = davidson_nll(torch.einsum("uqk,uk->uq", qd, w), qy, self.tie_strength)  # (U, Q)
            per_user = (nll * qc).sum(1) / qc.sum(1).clamp(min=1.0)  # (U,)
            loss = self._robust(per_user)
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            self.history_.append(float(loss.detach()))
        self.mean_ = mean.detach()
        self.precision_ = log_prec.detach().exp()
        self.step_size_ = float(log_step.detach().exp())
        return self

    def _robust(self, per_user: torch.Tensor) -> torch.Tensor:
        """Tilted mean: soft up-weighting of the worst-fit users (τ = None is the plain mean)."""
        tau = self.robust_temperature
        if tau is None:
            return per_user.mean()
        return tau * (torch.logsumexp(per_user / tau, 0) - math.log(per_user.shape[0]))

    def _batch(
        self, tasks: list[torch.Tensor], n_shot: int, gen: torch.Generator
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        out = []
        for rows in tasks:
            order = rows[torch.randperm(len(rows), generator=gen).to(rows.device)]
            n = min(n_shot, len(rows) - 1)
            out.append((order[:n], order[n : n + self.query_size]))
        return out

    @staticmethod
    def _gather(
        batch: list[tuple[torch.Tensor, torch.Tensor]], d: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """Pad support and query sets into (U, S, K) / (U, Q, K) tensors with 0/1 weights."""
        u, k = len(batch), d.shape[1]
        s_max = max(len(s) for s, _ in batch)
        q_max = max(len(q) for _, q in batch)
        sd, qd = d.new_zeros(u, s_max, k), d.new_zeros(u, q_max, k)
        sy, qy = y.new_ones(u, s_max), y.new_ones(u, q_max)
        sc, qc = d.new_zeros(u, s_max), d.new_zeros(u, q_max)
        for i, (s, q) in enumerate(batch):
            sd[i, : len(s)], sy[i, : len(s)], sc[i, : len(s)] = d[s], y[s], 1.0
            qd[i, : len(q)], qy[i, : len(q)], qc[i, : len(q)] = d[q], y[q], 1.0
        return sd, sy, sc, qd, qy, qc

    def user_model(self, tie_strength: float | None = None, device: str = "cpu") -> UserRewardModel:
        """An unfitted ``UserRewardModel`` with this prior."""
        return UserRewardModel(
            prior_mean=self.mean_.cpu(), prior_precision=self.precision_.cpu(),
            tie_strength=self.tie_strength if tie_strength is None else tie_strength, device=device,
        )

    def to_state(self) -> dict[str, object]:
        """JSON-safe state."""
        return {"mean": self.mean_.tolist(), "precision": self.precision_.tolist(), "step_size": self.step_size_,
                "tie_strength": self.tie_strength}

    @classmethod
    def from_state(cls, state: dict[str, object]) -> MetaPrior:
        prior = cls(tie_strength=float(state["tie_strength"]))  # type: ignore[arg-type]
        prior.mean_ = torch.tensor(state["mean"], dtype=torch.float64)
        prior.precision_ = torch.tensor(state["precision"], dtype=torch.float64)
        prior.step_size_ = float(state["step_size"])  # type: ignore[arg-type]
        return prior
