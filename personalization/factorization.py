"""Latent base rewards by low-rank factorization of many users' votes (PReF, Shenfeld et al. 2025; LoRe, Bose et
al. 2025): joint Bradley–Terry fit of ``r_u(y) = w_uᵀ [a(y); Vᵀe(y)]`` over all users, rank chosen by validation.

User weights are ``w_u = m + δ_u`` (a shared mean plus an L2-shrunk offset), so users with few votes borrow from
the population; ``V`` (d, L) is L2-regularised. After fitting, every latent column is rescaled to unit standard
deviation over the embeddings seen, so latent weights are comparable with the standardised named axes.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import torch

from personalization.bank import BaseRewardBank
from personalization.devices import device_resolve
from personalization.meta import newton_adapt
from personalization.user_model import davidson_nll


@dataclass
class FactorizationConfig:
    """Hyper-parameters of the factorization.

    ranks: candidate latent ranks L; the one with the best held-out log-likelihood wins.
    user_l2: precision of the Gaussian shrinkage of each user's offset δ_u.
    basis_l2: L2 penalty on V.
    l2_scales: multipliers of both penalties tried together with each rank (validation picks one); with a single
        rank and a single scale there is no validation fit.
    max_iter: L-BFGS iterations.
    validation: ``users`` holds out whole users and scores each on its later votes after fitting it (under the
        factorized prior) from its first ``val_support`` votes — the few-shot regime the bank serves; ``votes``
        holds out a share of every user's votes instead.
    val_share: share of users (or of each user's votes) held out.
    val_support: votes a held-out user is fitted from in ``users`` validation.
    tie_strength: Davidson ν for tie votes.
    seed: initialisation and validation split.
    device: ``auto``, ``cpu``, ``cuda``...
    """

    ranks: tuple[int, ...] = (1, 2, 4, 8)
    user_l2: float = 1.0
    basis_l2: float = 1.0
    l2_scales: tuple[float, ...] = (1.0,)
    max_iter: int = 150
    validation: str = "users"
    val_share: float = 0.25
    val_support: int = 10
    tie_strength: float = 0.5
    seed: int = 0
    device: str = "cpu"


class LowRankFactorization:
    """Joint Bradley–Terry low-rank factorization (the estimator behind ``bank_refit``).

    Learned state: ``latent_`` (d, L), ``user_weights_`` (U, A + L), ``mean_weights_`` (A + L,), ``rank_``,
    ``users_`` (the user keys in row order of ``user_weights_``), ``l2_scale_``, ``val_nll_`` {rank: best held-out
    mean NLL over the penalty scales}, ``val_grid_`` {(rank, scale): held-out mean NLL}, ``val_accuracy_`` (same
    keys, ``users`` validation only).
    """

    def __init__(self, config: FactorizationConfig | None = None) -> None:
        self.config = config or FactorizationConfig()

    def fit(
        self,
        users: Sequence[Hashable],
        axis_diffs: torch.Tensor,
        emb_diffs: torch.Tensor,
        outcomes: torch.Tensor,
        sample_weight: torch.Tensor | None = None,
    ) -> LowRankFactorization:
        """``axis_diffs`` (N, A) standardised axes first − second, ``emb_diffs`` (N, d), ``outcomes`` (N,)."""
        cfg = self.config
        device = device_resolve(cfg.device)
        self.users_ = list(dict.fromkeys(users))
        index = {u: i for i, u in enumerate(self.users_)}
        uid = torch.tensor([index[u] for u in users], device=device)  # (N,)
        a = torch.as_tensor(axis_diffs, dtype=torch.float32).to(device)  # (N, A)
        e = torch.as_tensor(emb_diffs, dtype=torch.float32).to(device)  # (N, d)
        y = torch.as_tensor(outcomes, dtype=torch.int64).to(device)  # (N,)
        c = torch.ones(len(y), device=device) if sample_weight is None else torch.as_tensor(
            sample_weight, dtype=torch.float32).to(device)  # (N,)
        self.val_grid_: dict[tuple[int, float], float] = {}
        self.val_accuracy_: dict[tuple[int, float], float] = {}
        grid = [(rank, scale) for rank in cfg.ranks for scale in cfg.l2_scales]
        if len(grid) > 1 and cfg.validation == "users":
            gen = torch.Generator().manual_seed(cfg.seed)
            n_val = max(1, int(cfg.val_share * len(self.users_)))
            val_users = torch.randperm(len(self.users_), generator=gen)[:n_val].to(device)
            held = torch.isin(uid, val_users)  # (N,) votes of held-out users
            for rank, scale in grid:
                params = self._fit_rank(rank, scale, a[~held], e[~held], y[~held], c[~held], uid[~held])
                fitted = params[2][torch.unique(uid[~held])]  # (U_fit, K) offsets of the users it saw
                nll, accuracy = self._few_shot_scores(params, fitted, uid[held], a[held], e[held], y[held],
                                                      c[held])
                self.val_grid_[(rank, scale)], self.val_accuracy_[(rank, scale)] = nll, accuracy
            self.rank_, self.l2_scale_ = min(self.val_grid_, key=self.val_grid_.__getitem__)
        elif len(grid) > 1:
            gen = torch.Generator().manual_seed(cfg.seed)
            held = (torch.rand(len(y), generator=gen) < cfg.val_share).to(device)  # (N,)
            for rank, scale in grid:
                params = self._fit_rank(rank, scale, a[~held], e[~held], y[~held], c[~held], uid[~held])
                vote_nll = self._nll(params, uid[held], a[held], e[held], y[held])
                self.val_grid_[(rank, scale)] = float((vote_nll * c[held]).sum() / c[held].sum().clamp(min=1e-9))
            self.rank_, self.l2_scale_ = min(self.val_grid_, key=self.val_grid_.__getitem__)
        else:
            self.rank_, self.l2_scale_ = grid[0]
        self.val_nll_ = {r: min(v for (rank, _), v in self.val_grid_.items() if rank == r)
                         for r in cfg.ranks if self.val_grid_}
        v, m, delta = self._fit_rank(self.rank_, self.l2_scale_, a, e, y, c, uid)
        spread = (e.new_tensor(1.0) if e.shape[0] < 2 else (e @ v).std(0).clamp(min=1e-6))  # (L,)
        self.latent_ = (v / spread).detach().cpu()  # (d, L): unit-variance latent features
        unscale = torch.cat([torch.ones(a.shape[1], device=device), spread.expand(v.shape[1])])  # (A + L,)
        self.mean_weights_ = (m * unscale).detach().cpu()
        self.user_weights_ = ((m + delta) * unscale).detach().cpu()  # (U, A + L)
        return self

    def _nll(
        self, params: tuple[torch.Tensor, torch.Tensor, torch.Tensor], uid: torch.Tensor, a: torch.Tensor,
        e: torch.Tensor, y: torch.Tensor,
    ) -> torch.Tensor:
        v, m, delta = params
        feats = torch.cat([a, e @ v], dim=1)  # (N, A + L)
        scores = (feats * (m + delta[uid])).sum(1)  # (N,)
        return davidson_nll(scores, y, self.config.tie_strength)

    def _few_shot_scores(
        self, params: tuple[torch.Tensor, torch.Tensor, torch.Tensor], fitted: torch.Tensor, uid: torch.Tensor,
        a: torch.Tensor, e: torch.Tensor, y: torch.Tensor, c: torch.Tensor,
    ) -> tuple[float, float]:
        """Query (mean NLL, accuracy) of held-out users, each fitted (MAP) from its first votes under the
        population prior N(m, diag(var of the fitted users' offsets)), what a new user has before meta-learning."""
        v, m, _ = params
        feats = torch.cat([a, e @ v], dim=1).double()  # (N, K)
        users = list(dict.fromkeys(uid.tolist()))
        support = self.config.val_support
        tasks = [(uid == u).nonzero().flatten() for u in users]
        tasks = [rows for rows in tasks if len(rows) > support]
        if not tasks:
            return float("inf"), 0.0
        k, s_max, q_max = feats.shape[1], support, max(len(rows) - support for rows in tasks)
        sd, qd = feats.new_zeros(len(tasks), s_max, k), feats.new_zeros(len(tasks), q_max, k)
        sy, qy = y.new_ones(len(tasks), s_max), y.new_ones(len(tasks), q_max)
        sc, qc = feats.new_zeros(len(tasks), s_max), feats.new_zeros(len(tasks), q_max)
        for i, rows in enumerate(tasks):
            s, q = rows[:support], rows[support:]
            sd[i], sy[i], sc[i] = feats[s], y[s], c[s].double()
            qd[i, : len(q)], qy[i, : len(q)], qc[i, : len(q)] = feats[q], y[q], c[q].double()
        precision = 1.0 / (fitted.double().var(0) + 1e-2) if fitted.shape[0] > 1 else feats.new_ones(k)  # (K,)
        w = newton_adapt(sd, sy, sc, m.double(), precision, 8, 1.0, self.config.tie_strength)  # (U, K)
        scores = torch.einsum("uqk,uk->uq", qd, w)  # (U, Q)
        nll = davidson_nll(scores, qy, self.config.tie_strength)  # (U, Q)
        decided = qc * (qy != 0)  # ties have no right side to pick
        correct = ((scores > 0) == (qy == 1)).double()
        accuracy = float((correct * decided).sum() / decided.sum().clamp(min=1e-9))
        return float((nll * qc).sum() / qc.sum().clamp(min=1e-9)), accuracy

    def _fit_rank(
        self, rank: int, scale: float, a: torch.Tensor, e: torch.Tensor, y: torch.Tensor,
        c: torch.Tensor, uid: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        cfg = self.config
        gen = torch.Generator().manual_seed(cfg.seed + rank)
        n_users, k = len(self.users_), a.shape[1] + rank
        v = (torch.randn(e.shape[1], rank, generator=gen) / e.shape[1] ** 0.5).to(a.device).requires_grad_()
        m = torch.zeros(k, device=a.device, requires_grad=True)
        delta = (0.01 * torch.randn(n_users, k, generator=gen)).to(a.device).requires_grad_()
        opt = torch.optim.LBFGS([v, m, delta], max_iter=cfg.max_iter, line_search_fn="strong_wolfe")
        total = c.sum().clamp(min=1e-9)

        def closure() -> torch.Tensor:
            opt.zero_grad()
            nll = (self._nll((v, m, delta), uid, a, e, y) * c).sum() / total
            penalty = scale * (cfg.user_l2 * delta.pow(2).sum() + cfg.basis_l2 * v.pow(2).sum()) / total
            loss: torch.Tensor = nll + penalty
            loss.backward()  # type: ignore[no-untyped-call]
            return loss

        opt.step(closure)  # type: ignore[no-untyped-call]
        return v.detach(), m.detach(), delta.detach()


def bank_refit(
    *,
    bank: BaseRewardBank,
    users: Sequence[Hashable],
    axes_first: torch.Tensor,
    axes_second: torch.Tensor,
    emb_first: torch.Tensor,
    emb_second: torch.Tensor,
    outcomes: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
    config: FactorizationConfig | None = None,
) -> tuple[BaseRewardBank, dict[Hashable, torch.Tensor]]:
    """Refit the latent bases from every stored vote; returns the new bank (version + 1) and each user's weights.

    ``bank`` must already have its axes standardised (``fit_axes``); rows are one vote each: the voter's key,
    raw axis scores (N, A) and embeddings (N, d) of the first and second response, outcome in {1, −1, 0} and an
    optional strength weight. Old profiles are then refitted onto the new bank with ``profiles_refit``.
    """
    axis_diffs = (torch.as_tensor(axes_first) - torch.as_tensor(axes_second)) / bank.axis_std_  # (N, A)
    factorization = LowRankFactorization(config).fit(
        users, axis_diffs, torch.as_tensor(emb_first) - torch.as_tensor(emb_second), outcomes, sample_weight
    )
    new_bank = BaseRewardBank(version=bank.version + 1, encoder=bank.encoder)
    new_bank.axis_mean_, new_bank.axis_std_ = bank.axis_mean_.clone(), bank.axis_std_.clone()
    new_bank.set_latent(factorization.latent_)
    weights = dict(zip(factorization.users_, factorization.user_weights_, strict=True))
    return new_bank, weights
