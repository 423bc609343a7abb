"""The ``hh`` protocol: few-shot personalization to unseen users of two simulated types on HH-RLHF pairs.

Everything is fitted on ``--train`` only; test users draw their support votes and are scored on disjoint pairs of
``--test`` of their own type, so no test label ever reaches training.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import torch
from tqdm import tqdm

from personalization.bank import BaseRewardBank
from personalization.bench.hh_data import OBJECTIVES, PairSet
from personalization.bench.stats import mean_ci95
from personalization.factorization import FactorizationConfig, bank_refit
from personalization.meta import MetaPrior
from personalization.prototypes import PrototypeModel
from personalization.scaling import dual_granularity_proba
from personalization.user_model import UserRewardModel, user_fit

METHODS = ("population", "zero-prior", "meta-prior", "prototypes", "tailor", "oracle")


@dataclass
class HHConfig:
    """Protocol settings: simulated test users, shots, pseudo-user sizes for training, and model sizes."""

    n_users: int = 200
    shots: tuple[int, ...] = (1, 2, 5, 10, 20)
    pseudo_user_size: tuple[int, int] = (20, 50)
    pseudo_user_passes: int = 3
    ranks: tuple[int, ...] = (1, 2, 4, 8)
    baseline_l2: float = 1.0
    meta_steps: int = 300
    n_members: int = 5
    seed: int = 0


def _pseudo_users(objective: torch.Tensor, cfg: HHConfig) -> tuple[torch.Tensor, list[int]]:
    """(rows, user ids): training pairs grouped into same-type pseudo-users of ``pseudo_user_size`` pairs."""
    rng = random.Random(cfg.seed)
    rows: list[int] = []
    users: list[int] = []
    next_id = 0
    for _ in range(cfg.pseudo_user_passes):
        for t in range(len(OBJECTIVES)):
            idx = (objective == t).nonzero().flatten().tolist()
            rng.shuffle(idx)
            start = 0
            while start < len(idx):
                size = rng.randint(*cfg.pseudo_user_size)
                chunk = idx[start : start + size]
                start += size
                if len(chunk) < cfg.pseudo_user_size[0] // 2:
                    continue
                rows += chunk
                users += [next_id] * len(chunk)
                next_id += 1
    return torch.tensor(rows), users


def _raw_diffs(bank: BaseRewardBank, pairs: PairSet) -> torch.Tensor:
    """(N, A + d) standardised axes and full embedding differences, for the plain logistic baselines."""
    axes = (pairs.axes_first - pairs.axes_second) / bank.axis_std_
    return torch.cat([axes, pairs.emb_first - pairs.emb_second], 1).double()


def _bank_diffs(bank: BaseRewardBank, pairs: PairSet) -> torch.Tensor:
    return (bank.features(pairs.axes_first, pairs.emb_first) - bank.features(pairs.axes_second, pairs.emb_second)).double()


def _accuracy(proba_first: torch.Tensor, outcome: torch.Tensor) -> float:
    return float(((proba_first > 0.5) == (outcome == 1)).double().mean())


def hh_run(
    train: PairSet, test: PairSet, cfg: HHConfig, log: Callable[[str], None] = print
) -> dict[str, object]:
    """Fit every method on ``train`` and score simulated unseen users on ``test``; returns the JSON report."""
    torch.manual_seed(cfg.seed)
    bank = BaseRewardBank(version=0, encoder="").fit_axes(torch.cat([train.axes_first, train.axes_second]))
    rows, users = _pseudo_users(train.objective, cfg)
    log(f"factorizing {len(set(users))} pseudo-users / {len(rows)} votes, ranks {cfg.ranks}")
    sub = train.subset(rows)
    bank, user_weights = bank_refit(
        bank=bank, users=users, axes_first=sub.axes_first, axes_second=sub.axes_second, emb_first=sub.emb_first,
        emb_second=sub.emb_second, outcomes=sub.outcome, config=FactorizationConfig(ranks=cfg.ranks, seed=cfg.seed),
    )
    log(f"bank: K={bank.dim} (latent rank {bank.n_latent})")
    train_diffs = _bank_diffs(bank, sub)
    weights = torch.stack(list(user_weights.values())).double()
    meta = MetaPrior(meta_steps=cfg.meta_steps, seed=cfg.seed).fit(
        users, train_diffs, sub.outcome, init_mean=weights.mean(0))
    prototypes = PrototypeModel(seed=cfg.seed).fit(weights, list(user_weights))
    log(f"prototypes: k={prototypes.k_}; meta prior precision {meta.precision_.mean():.3g}")
    raw_train = _raw_diffs(bank, train)
    population = UserRewardModel(prior_precision=cfg.baseline_l2).fit(raw_train, train.outcome)
    oracles = [UserRewardModel(prior_precision=cfg.baseline_l2).fit(raw_train[train.objective == t],
                                                                     train.outcome[train.objective == t])
               for t in range(len(OBJECTIVES))]
    test_diffs, raw_test = _bank_diffs(bank, test), _raw_diffs(bank, test)
    rng = random.Random(cfg.seed + 1)
    gen = torch.Generator().manual_seed(cfg.seed)
    scores: dict[str, dict[int, list[float]]] = {m: {n: [] for n in cfg.shots} for m in METHODS}
    for u in tqdm(range(cfg.n_users), desc="hh users", unit="user"):
        t = u % len(OBJECTIVES)
        idx = (test.objective == t).nonzero().flatten().tolist()
        rng.shuffle(idx)
        support_all, query = idx[: max(cfg.shots)], torch.tensor(idx[max(cfg.shots) :])
        q_out = test.outcome[query]
        fixed = {"population": population.score(raw_test[query]), "oracle": oracles[t].score(raw_test[query])}
        for n in cfg.shots:
            s = torch.tensor(support_all[:n])
            d, y = test_diffs[s], test.outcome[s]
            for name, value in fixed.items():
                scores[name][n].append(_accuracy(torch.sigmoid(value), q_out))
            zero = user_fit(diffs=d, outcomes=y)
            scores["zero-prior"][n].append(_accuracy(torch.sigmoid(zero.score(test_diffs[query])), q_out))
            meta_model = meta.user_model().fit(d, y)
            scores["meta-prior"][n].append(_accuracy(torch.sigmoid(meta_model.score(test_diffs[query])), q_out))
            posterior = prototypes.posterior(d, y)
            proto = dual_granularity_proba(test_diffs[query], posterior=posterior, prototypes=prototypes,
                                           n_members=cfg.n_members, generator=gen)
            scores["prototypes"][n].append(_accuracy(proto, q_out))
            scores["tailor"][n].append(_accuracy(proto, q_out))
    accuracy = {m: {str(n): mean_ci95(v)[0] for n, v in by.items()} for m, by in scores.items()}
    ci95 = {m: {str(n): mean_ci95(v)[1] for n, v in by.items()} for m, by in scores.items()}
    return {
        "protocol": "hh", "shots": list(cfg.shots), "accuracy": accuracy, "ci95": ci95, "n_users": cfg.n_users,
        "bank": {"K": bank.dim, "latent_rank": bank.n_latent}, "prototypes_k": prototypes.k_,
    }
