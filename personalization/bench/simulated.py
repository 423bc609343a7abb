"""The ``simulated`` protocol (PersonalLLM, Zollo et al. 2024) on the project's own candidate pool.

Each simulated user is a Dirichlet(α) mixture of independent judges (``personalization.judges``), which the model
never sees; votes are sampled from Bradley–Terry on the user's true reward. Training users' votes fit the bank,
meta prior and prototypes; unseen test users give n support votes on pairs from one half of the prompts and are
scored on sampled labels of pairs from the other half. The oracle scores with the true mixture. The active
curve compares pair-selection strategies for the tailor method.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from personalization.active import STRATEGIES, pair_next
from personalization.bench.stats import mean_ci95
from personalization.judges import JUDGE_NAMES, judges_score
from personalization.population import ADAPTIVE, Population, PopulationConfig, population_fit
from personalization.user_model import UserRewardModel

METHODS = ("population", *ADAPTIVE, "oracle")


@dataclass
class SimulatedConfig:
    """Protocol settings.

    alpha: Dirichlet concentration of the users' judge mixtures (small = users dominated by one or two judges).
    beta: scale of the true reward (higher = less noisy votes).
    """

    n_train_users: int = 300
    votes_per_train_user: int = 40
    n_test_users: int = 200
    shots: tuple[int, ...] = (1, 2, 5, 10, 20)
    active_shots: tuple[int, ...] = (1, 2, 3, 5, 10, 20)
    active_users: int = 100
    active_candidates: int = 200
    random_rate: float = 0.0
    query_pairs: int = 200
    alpha: float = 0.3
    beta: float = 4.0
    baseline_l2: float = 1.0
    seed: int = 0
    population: PopulationConfig = field(default_factory=lambda: PopulationConfig(tie_strength=0.0))  # no ties


@dataclass
class Pool:
    """Flattened candidate pool: per response its prompt index, axis scores (R, A), embedding (R, d)."""

    prompt_of: torch.Tensor
    axes: torch.Tensor
    embeddings: torch.Tensor
    texts: list[str]


def pool_read(path: str | Path) -> Pool:
    """Read the pool JSONL (a header line, then one line per prompt with its scored, embedded responses)."""
    prompt_of, axes, embs, texts = [], [], [], []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        p = 0
        for line in handle:
            row = json.loads(line)
            if "header" in row:
                continue
            for response in row["responses"]:
                prompt_of.append(p)
                axes.append(response["axis_scores"])
                embs.append(np.frombuffer(base64.b64decode(response["embedding"]), dtype=np.float32).copy())
                texts.append(response["text"])
            p += 1
    return Pool(torch.tensor(prompt_of), torch.tensor(axes, dtype=torch.float32),
                torch.from_numpy(np.stack(embs)), texts)


def _pairs(prompt_of: torch.Tensor, prompts: torch.Tensor, n: int, gen: torch.Generator) -> torch.Tensor:
    """(n, 2) random pairs of distinct responses to the same prompt, prompts drawn from ``prompts``."""
    out: list[tuple[int, int]] = []
    while len(out) < n:
        p = prompts[int(torch.randint(len(prompts), (1,), generator=gen))]
        members = (prompt_of == p).nonzero().flatten()
        if len(members) < 2:
            continue
        a, b = torch.randperm(len(members), generator=gen)[:2]
        out.append((int(members[a]), int(members[b])))
    return torch.tensor(out)


def _votes(reward: torch.Tensor, pairs: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """(N,) outcomes in {1, −1} sampled from Bradley–Terry on the true reward (R,)."""
    p_first = torch.sigmoid(reward[pairs[:, 0]] - reward[pairs[:, 1]])
    return torch.where(torch.rand(len(pairs), generator=gen, dtype=p_first.dtype) < p_first, 1, -1)


def _accuracy(proba_first: torch.Tensor, outcome: torch.Tensor) -> float:
    return float(((proba_first > 0.5) == (outcome == 1)).double().mean())



@dataclass
class JudgeScores:
    """Judge scores of texts standardised over a reference set: ``z`` (R, J) and the ``mean``/``std`` (J,) used,
    so that new texts (e.g. generated answers) land on the same scale via ``judges_apply``."""

    z: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor


def judges_standardised(texts: list[str]) -> JudgeScores:
    raw = torch.tensor([judges_score(t) for t in tqdm(texts, desc="judges", leave=False)], dtype=torch.float64)
    mean, std = raw.mean(0), raw.std(0).clamp(min=1e-9)
    return JudgeScores(z=(raw - mean) / std, mean=mean, std=std)


def judges_apply(scores: JudgeScores, texts: list[str]) -> torch.Tensor:
    """(N, J) judge scores of ``texts`` on the reference set's standardised scale."""
    raw = torch.tensor([judges_score(t) for t in texts], dtype=torch.float64).reshape(len(texts), -1)
    return (raw - scores.mean) / scores.std


def user_mixtures(alpha: float) -> torch.distributions.Dirichlet:
    """The users' distribution: Dirichlet(α) weights over the judges."""
    return torch.distributions.Dirichlet(torch.full((len(JUDGE_NAMES),), alpha, dtype=torch.float64))


def training_population(
    pool: Pool, judges: torch.Tensor, dirichlet: torch.distributions.Dirichlet, cfg: SimulatedConfig,
    gen: torch.Generator, log: Callable[[str], None] = print,
) -> tuple[Population, torch.Tensor, torch.Tensor]:
    """Simulate the training users' votes on random pool pairs and fit bank, meta prior and prototypes on them.

    Returns the fitted population and the training votes (pairs (N, 2) into the pool, outcomes (N,)).
    """
    torch.manual_seed(cfg.seed)
    train_mix = dirichlet.sample((cfg.n_train_users,))  # (U, J)
    all_prompts = torch.arange(int(pool.prompt_of.max()) + 1)
    users, pairs_list, outcomes_list = [], [], []
    for u in range(cfg.n_train_users):
        pairs = _pairs(pool.prompt_of, all_prompts, cfg.votes_per_train_user, gen)
        outcomes_list.append(_votes(cfg.beta * judges @ train_mix[u], pairs, gen))
        pairs_list.append(pairs)
        users += [u] * len(pairs)
    pairs_t, outcomes_t = torch.cat(pairs_list), torch.cat(outcomes_list)
    log(f"training on {cfg.n_train_users} users / {len(pairs_t)} votes over {len(pool.texts)} responses")
    fitted = population_fit(
        users=users, axes_first=pool.axes[pairs_t[:, 0]], axes_second=pool.axes[pairs_t[:, 1]],
        emb_first=pool.embeddings[pairs_t[:, 0]], emb_second=pool.embeddings[pairs_t[:, 1]], outcomes=outcomes_t,
        pool_axes=pool.axes, config=cfg.population,
    )
    log(f"bank K={fitted.bank.dim} (latent rank {fitted.bank.n_latent}); prototypes k={fitted.prototypes.k_}")
    return fitted, pairs_t, outcomes_t


def simulated_run(
    pool_path: str | Path | Pool, cfg: SimulatedConfig, log: Callable[[str], None] = print
) -> dict[str, object]:
    """Train on simulated training users, evaluate unseen users and the active-selection curve.

    ``pool_path`` is the pool file, or an already read ``Pool`` (e.g. with other embeddings, for a ceiling study).
    """
    pool = pool_path if isinstance(pool_path, Pool) else pool_read(pool_path)
    gen = torch.Generator().manual_seed(cfg.seed)
    judges = judges_standardised(pool.texts).z
    dirichlet = user_mixtures(cfg.alpha)
    n_prompts = int(pool.prompt_of.max()) + 1
    order = torch.randperm(n_prompts, generator=gen)
    support_prompts, query_prompts = order[: n_prompts // 2], order[n_prompts // 2 :]
    fitted, pairs_t, outcomes_t = training_population(pool, judges, dirichlet, cfg, gen, log)
    phi = fitted.bank.features(pool.axes, pool.embeddings).double()  # (R, K)
    raw = torch.cat([(pool.axes - fitted.bank.axis_mean_) / fitted.bank.axis_std_, pool.embeddings], 1).double()
    shared = UserRewardModel(prior_precision=cfg.baseline_l2).fit(
        raw[pairs_t[:, 0]] - raw[pairs_t[:, 1]], outcomes_t)

    test_mix = dirichlet.sample((cfg.n_test_users,))  # (T, J)
    scores: dict[str, dict[int, list[float]]] = {m: {n: [] for n in cfg.shots} for m in METHODS}
    active: dict[str, dict[int, list[float]]] = {s: {n: [] for n in cfg.active_shots} for s in STRATEGIES}
    for u in tqdm(range(cfg.n_test_users), desc="simulated users", unit="user"):
        reward = cfg.beta * judges @ test_mix[u]  # (R,)
        query = _pairs(pool.prompt_of, query_prompts, cfg.query_pairs, gen)
        q_out = _votes(reward, query, gen)
        q_diffs = phi[query[:, 0]] - phi[query[:, 1]]
        support = _pairs(pool.prompt_of, support_prompts, max(cfg.shots), gen)
        s_out = _votes(reward, support, gen)
        s_diffs = phi[support[:, 0]] - phi[support[:, 1]]
        population_acc = _accuracy(torch.sigmoid(shared.score(raw[query[:, 0]] - raw[query[:, 1]])), q_out)
        oracle_acc = _accuracy(torch.sigmoid(reward[query[:, 0]] - reward[query[:, 1]]), q_out)
        for n in cfg.shots:
            scores["population"][n].append(population_acc)
            scores["oracle"][n].append(oracle_acc)
            for method in ADAPTIVE:
                proba = fitted.proba(method, s_diffs[:n], s_out[:n], q_diffs, gen)
                scores[method][n].append(_accuracy(proba, q_out))
        if u < cfg.active_users:
            candidates = _pairs(pool.prompt_of, support_prompts, cfg.active_candidates, gen)
            c_out = _votes(reward, candidates, gen)  # the answer the user would give to each candidate
            c_diffs = phi[candidates[:, 0]] - phi[candidates[:, 1]]
            for strategy in STRATEGIES:
                curve = _active_curve(fitted, strategy, c_diffs, c_out, q_diffs, q_out, cfg, gen)
                for n, acc in curve.items():
                    active[strategy][n].append(acc)
    return {
        "protocol": "simulated", "shots": list(cfg.shots), "judges": list(JUDGE_NAMES), "alpha": cfg.alpha,
        "beta": cfg.beta, "n_users": cfg.n_test_users, "seed": cfg.seed,
        "accuracy": {m: {str(n): mean_ci95(v)[0] for n, v in by.items()} for m, by in scores.items()},
        "ci95": {m: {str(n): mean_ci95(v)[1] for n, v in by.items()} for m, by in scores.items()},
        "active": {s: {str(n): mean_ci95(v)[0] for n, v in by.items()} for s, by in active.items()},
        "active_ci95": {s: {str(n): mean_ci95(v)[1] for n, v in by.items()} for s, by in active.items()},
        "bank": {"K": fitted.bank.dim, "latent_rank": fitted.bank.n_latent}, "prototypes_k": fitted.prototypes.k_,
    }


def _active_curve(
    fitted: object, strategy: str, c_diffs: torch.Tensor, c_out: torch.Tensor, q_diffs: torch.Tensor,
    q_out: torch.Tensor, cfg: SimulatedConfig, gen: torch.Generator,
) -> dict[int, float]:
    """Ask ``max(active_shots)`` pairs one at a time with ``strategy``; tailor's accuracy after each budget."""
    from personalization.population import Population

    assert isinstance(fitted, Population)
    asked: list[int] = []
    remaining = list(range(len(c_diffs)))
    curve: dict[int, float] = {}
    for step in range(1, max(cfg.active_shots) + 1):
        posterior = fitted.prototypes.posterior(c_diffs[asked], c_out[asked])
        mean, cov = posterior.moments()
        pick = pair_next(c_diffs[remaining], weights=mean, covariance=cov, strategy=strategy,
                         random_rate=cfg.random_rate, generator=gen)
        asked.append(remaining.pop(pick))
        if step in cfg.active_shots:
            proba = fitted.proba("tailor", c_diffs[asked], c_out[asked], q_diffs, gen)
            curve[step] = _accuracy(proba, q_out)
    return curve
