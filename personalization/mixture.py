"""Prototype rewards learned from whole users' votes: a mixture of Bradley–Terry models (a latent-class model).

Each user belongs to one of k prototypes and every prototype has its own reward over the features; EM alternates
the users' responsibilities (the posterior of each prototype given all of a user's votes) and a responsibility-
weighted MAP fit of each prototype's reward. This is the EM of MaxMin-RLHF (Chakraborty et al. 2024) in the role
P-GenRM gives prototypes; its rewards become the bank's latent bases (PReF: bases learned from everyone's votes)
through ``mixture_bank``. A new user is placed by the same posterior from a few votes, which is what helps most
when a user has voted little: clustering fitted weight vectors cannot see types that a few noisy votes per user
blur, but the likelihood of the votes themselves can.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import torch

from personalization.axes import AXIS_NAMES
from personalization.bank import BaseRewardBank
from personalization.devices import device_resolve
from personalization.user_model import UserRewardModel, davidson_nll, davidson_proba


class BradleyTerryMixture:
    """Latent-class Bradley–Terry (Davidson for ties) over users, k chosen by held-out users' likelihood.

    Parameters: ``k_range`` candidate numbers of prototypes; ``prior_precision`` of each prototype's Gaussian prior
    (zero mean); ``tie_strength`` Davidson ν; ``max_iter`` EM iterations; ``n_init`` random restarts (the best
    log-likelihood wins); ``val_share`` of users held out to choose k (by their votes' marginal likelihood under
    a mixture fitted without them); ``tol`` on the mean log-likelihood per vote; ``newton_steps`` per
    M-step (warm-started from the last one, so a generalised EM: each step still raises the likelihood); ``seed``;
    ``device``.

    Learned state: ``k_``, ``weights_`` (k, D) prototype rewards, ``mix_`` (k,), ``users_`` (user keys in row
    order), ``responsibilities_`` (U, k), ``log_likelihood_`` (per vote), ``val_nll_`` {k: held-out NLL per vote}.
    """

    def __init__(
        self, k_range: tuple[int, ...] = (1, 2, 3, 4), prior_precision: float = 1.0, tie_strength: float = 0.5,
        max_iter: int = 30, n_init: int = 2, val_share: float = 0.25, tol: float = 1e-5,
        newton_steps: int = 2, seed: int = 0, device: str = "cpu",
    ) -> None:
        self.k_range = k_range
        self.prior_precision = prior_precision
        self.tie_strength = tie_strength
        self.max_iter = max_iter
        self.n_init = n_init
        self.val_share = val_share
        self.tol = tol
        self.newton_steps = newton_steps
        self.seed = seed
        self.device = device

    def fit(
        self, users: Sequence[Hashable], diffs: torch.Tensor, outcomes: torch.Tensor,
        sample_weight: torch.Tensor | None = None,
    ) -> BradleyTerryMixture:
        """One row per vote: the voter, ``diffs`` (N, D) = x(first) − x(second), outcome in {1, −1, 0}."""
        if not self.k_range or min(self.k_range) < 1:
            raise ValueError("k_range must hold numbers of prototypes ≥ 1")
        device = device_resolve(self.device)
        d = torch.as_tensor(diffs, dtype=torch.float64).to(device)  # (N, D)
        y = torch.as_tensor(outcomes, dtype=torch.int64).to(device)  # (N,)
        if d.ndim != 2 or y.shape != (d.shape[0],) or len(users) != d.shape[0]:
            raise ValueError("users, diffs (N, D) and outcomes (N,) must have one row per vote")
        c = (torch.ones(len(y), dtype=torch.float64, device=device) if sample_weight is None
             else torch.as_tensor(sample_weight, dtype=torch.float64).to(device))  # (N,)
        self.users_ = list(dict.fromkeys(users))
        index = {u: i for i, u in enumerate(self.users_)}
        uid = torch.tensor([index[u] for u in users], device=device)  # (N,)
        candidates = sorted({k for k in self.k_range if k <= len(self.users_)}) or [1]
        self.val_nll_: dict[int, float] = {}
        if len(candidates) > 1:
            gen = torch.Generator().manual_seed(self.seed)
            n_val = max(1, int(self.val_share * len(self.users_)))
            val_users = torch.randperm(len(self.users_), generator=gen)[:n_val].to(device)
            held = torch.isin(uid, val_users)  # (N,)
            for k in candidates:
                weights, mix, _, _ = self._em(k, uid[~held], d[~held], y[~held], c[~held])
                self.val_nll_[k] = self._held_out_nll(weights, mix, uid[held], d[held], y[held], c[held])
            self.k_ = min(self.val_nll_, key=self.val_nll_.__getitem__)
        else:
            self.k_ = candidates[0]
        self.weights_, self.mix_, resp, self.log_likelihood_ = self._em(self.k_, uid, d, y, c)
        self.responsibilities_ = resp  # (U, k), rows in ``users_`` order
        return self

    def _em(
        self, k: int, uid: torch.Tensor, d: torch.Tensor, y: torch.Tensor, c: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        """Best of ``n_init`` EM runs: (weights (k, D), mix (k,), responsibilities (U, k), log-likelihood/vote)."""
        n_users = int(uid.max()) + 1 if len(uid) else 0
        best: tuple[torch.Tensor, torch.Tensor, torch.Tensor, float] | None = None
        for restart in range(self.n_init if k > 1 else 1):
            gen = torch.Generator().manual_seed(self.seed * 1000 + 17 * k + restart)
            resp = torch.softmax(2.0 * torch.randn(n_users, k, generator=gen, dtype=torch.float64), 1).to(d.device)
            weights = d.new_zeros(k, d.shape[1])
            previous = -float("inf")
            for _ in range(self.max_iter):
                mix = resp.sum(0) / resp.sum().clamp(min=1e-12)  # (k,)
                weights = torch.stack([
                    UserRewardModel(prior_precision=self.prior_precision, tie_strength=self.tie_strength,
                                    max_iter=self.newton_steps, device=self.device)
                    .fit(d, y, c * resp[uid, j], init=weights[j]).weights_
                    for j in range(k)])  # (k, D)
                per_user = self._user_log_lik(weights, uid, d, y, c, n_users) + mix.clamp(min=1e-12).log()  # (U, k)
                resp = torch.softmax(per_user, 1)
                total = float(torch.logsumexp(per_user, 1).sum() / c.sum().clamp(min=1e-12))
                if total - previous < self.tol:
                    break
                previous = total
            if best is None or total > best[3]:
                best = (weights, mix, resp, total)
        assert best is not None
        return best

    def _user_log_lik(
        self, weights: torch.Tensor, uid: torch.Tensor, d: torch.Tensor, y: torch.Tensor, c: torch.Tensor,
        n_users: int,
    ) -> torch.Tensor:
        """(U, k) log-likelihood of each user's votes under each prototype's reward."""
        scores = d @ weights.T  # (N, k)
        ll = -torch.stack([davidson_nll(scores[:, j], y, self.tie_strength) for j in range(weights.shape[0])], 1)
        return d.new_zeros(n_users, weights.shape[0]).index_add_(0, uid, ll * c[:, None])

    def _held_out_nll(
        self, weights: torch.Tensor, mix: torch.Tensor, uid: torch.Tensor, d: torch.Tensor, y: torch.Tensor,
        c: torch.Tensor,
    ) -> float:
        """Held-out users' negative log marginal likelihood per vote: −Σ_u log Σ_j π_j p(votes_u | w_j) / votes.

        By the chain rule this is the mean NLL of predicting each of a user's votes from the ones before, over
        every number of votes so far. Scoring only the votes after a user's first ten (tried first) was noisier:
        it picked k = 1 in 3 of 4 folds of an hh split where two types are real and k = 2 predicts better.
        """
        if not len(uid):
            return float("inf")
        n_users = int(uid.max()) + 1
        per_user = self._user_log_lik(weights, uid, d, y, c, n_users)[torch.unique(uid)]  # (U_held, k)
        return float(-torch.logsumexp(per_user + mix.clamp(min=1e-12).log(), 1).sum() / c.sum().clamp(min=1e-12))

    def posterior(
        self, diffs: torch.Tensor, outcomes: torch.Tensor, sample_weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(k,) posterior over the prototypes of a user with these votes (the mixing weights with none)."""
        w = self.weights_
        d = torch.as_tensor(diffs, dtype=torch.float64).to(w.device).reshape(-1, w.shape[1])
        y = torch.as_tensor(outcomes, dtype=torch.int64).to(w.device).reshape(-1)
        c = torch.ones(len(y), dtype=torch.float64, device=w.device) if sample_weight is None else torch.as_tensor(
            sample_weight, dtype=torch.float64).to(w.device)
        uid = torch.zeros(len(y), dtype=torch.int64, device=w.device)
        log_lik = self._user_log_lik(w, uid, d, y, c, 1)[0]  # (k,)
        return torch.softmax(log_lik + self.mix_.clamp(min=1e-12).log(), 0)

    def predict_proba(
        self, support: torch.Tensor, outcomes: torch.Tensor, query: torch.Tensor
    ) -> torch.Tensor:
        """(Q, 3) P(first), P(second), P(tie) of ``query`` diffs for a user with these ``support`` votes, averaged
        over the prototypes by the user's posterior."""
        post = self.posterior(support, outcomes)  # (k,)
        query = torch.as_tensor(query, dtype=torch.float64).to(self.weights_.device)
        p = davidson_proba(query @ self.weights_.T, self.tie_strength)  # (Q, k, 3)
        return torch.einsum("qkj,k->qj", p, post)

def mixture_bank(
    bank: BaseRewardBank, mixture: BradleyTerryMixture, embeddings_seen: torch.Tensor
) -> tuple[BaseRewardBank, torch.Tensor]:
    """The next bank version, whose latent bases are the prototypes' rewards, and the prototypes' weights on it.

    ``mixture`` was fitted on [standardised axis diffs; embedding diffs] (D = A + d). Prototype j's reward is
    ``a_jᵀ axes + b_jᵀ e``: the bank keeps the named axes and takes ``b_j`` (rescaled to unit standard deviation
    over ``embeddings_seen`` (M, d)) as latent basis j, so prototype j's weights are ``[a_j; s_j · onehot(j)]``
    and every prototype's reward is exactly a user of the bank. Returns (bank, (k, A + k) prototype weights).
    """
    n_axes = len(AXIS_NAMES)
    weights = mixture.weights_.cpu()  # (k, A + d)
    if weights.shape[1] <= n_axes:
        raise ValueError("the mixture was fitted without embedding columns")
    latent = weights[:, n_axes:].T.float()  # (d, k)
    spread = (torch.as_tensor(embeddings_seen, dtype=torch.float32) @ latent).std(0).clamp(min=1e-6)  # (k,)
    new_bank = BaseRewardBank(version=bank.version + 1, encoder=bank.encoder)
    new_bank.axis_mean_, new_bank.axis_std_ = bank.axis_mean_.clone(), bank.axis_std_.clone()
    new_bank.set_latent(latent / spread)
    means = torch.cat([weights[:, :n_axes], torch.diag(spread.double())], 1)  # (k, A + k)
    return new_bank, means


def bank_refit_mixture(
    *,
    bank: BaseRewardBank,
    users: Sequence[Hashable],
    axes_first: torch.Tensor,
    axes_second: torch.Tensor,
    emb_first: torch.Tensor,
    emb_second: torch.Tensor,
    outcomes: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
    mixture: BradleyTerryMixture | None = None,
) -> tuple[BaseRewardBank, torch.Tensor, BradleyTerryMixture]:
    """``factorization.bank_refit``'s counterpart: the next bank from every stored vote, its latent bases the
    rewards of a mixture over users (``mixture``, unfitted, carries the settings). ``bank`` must have its axes
    standardised. Returns (new bank, (k, K) prototype weights on it, the fitted mixture)."""
    mixture = mixture or BradleyTerryMixture()
    axis_diffs = (torch.as_tensor(axes_first) - torch.as_tensor(axes_second)) / bank.axis_std_  # (N, A)
    raw = torch.cat([axis_diffs, torch.as_tensor(emb_first) - torch.as_tensor(emb_second)], 1).double()  # (N, D)
    mixture.fit(users, raw, outcomes, sample_weight)
    new_bank, means = mixture_bank(bank, mixture, torch.cat([torch.as_tensor(emb_first), torch.as_tensor(emb_second)]))
    return new_bank, means, mixture
