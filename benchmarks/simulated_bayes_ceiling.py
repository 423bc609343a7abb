"""Ceilings for the ``simulated`` protocol that no method can pass, whatever its features.

1. **Exact Bayes.** A predictor that knows everything the protocol hides (every judge's score of every answer and
   the Dirichlet(α) the users come from) and predicts with the exact posterior predictive after n random votes
   (importance sampling of the users' prior with ``--particles`` draws). Against the same users' true-mixture
   oracle, this is the best accuracy any method can reach at n votes. ``--alphas`` and ``--betas`` map it over
   other protocol settings.
2. **What the features can express.** Cross-validated (by prompt) ridge probes of each judge from the model's own
   features (standardised axes + embedding): R² per judge.
3. **The judges as features.** The project's own pipeline (bank, meta prior, prototypes, tailor) run on a pool
   whose embeddings are replaced by the judges' standardised scores, so its features can express every user
   exactly: what is left of the gap to the oracle is the few-vote problem, not the features.

    .venv/bin/python benchmarks/simulated_bayes_ceiling.py --seed 0
    .venv/bin/python benchmarks/simulated_bayes_ceiling.py --alphas 0.1,0.3,1 --betas 2,4,8,16 --no-pipeline
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import GroupKFold, cross_val_predict

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from personalization.bench.simulated import (  # noqa: E402
    SimulatedConfig,
    _accuracy,
    _pairs,
    _votes,
    judges_standardised,
    pool_read,
    simulated_run,
    user_mixtures,
)


def bayes_ceiling(
    judges: torch.Tensor, prompt_of: torch.Tensor, alpha: float, beta: float, shots: tuple[int, ...], users: int,
    particles: int, seed: int,
) -> dict[str, object]:
    """Exact-Bayes accuracy after n votes and the oracle's, for ``users`` users drawn like the protocol's."""
    gen = torch.Generator().manual_seed(seed)
    n_prompts = int(prompt_of.max()) + 1
    order = torch.randperm(n_prompts, generator=gen)
    support_prompts, query_prompts = order[: n_prompts // 2], order[n_prompts // 2 :]
    torch.manual_seed(seed)
    prior = user_mixtures(alpha)
    draws, test = prior.sample((particles,)), prior.sample((users,))  # (M, J), (T, J)
    by_shots: dict[int, list[float]] = {n: [] for n in shots}
    oracle: list[float] = []
    for mix in test:
        reward = beta * judges @ mix  # (R,)
        query = _pairs(prompt_of, query_prompts, 200, gen)
        q_out = _votes(reward, query, gen)
        support = _pairs(prompt_of, support_prompts, max(shots), gen)
        s_out = _votes(reward, support, gen)
        oracle.append(_accuracy(torch.sigmoid(reward[query[:, 0]] - reward[query[:, 1]]), q_out))
        q_margin = beta * (judges[query[:, 0]] - judges[query[:, 1]]) @ draws.T  # (Q, M)
        log_lik = torch.nn.functional.logsigmoid(
            s_out[:, None] * beta * (judges[support[:, 0]] - judges[support[:, 1]]) @ draws.T)  # (S, M)
        for n in shots:
            posterior = torch.softmax(log_lik[:n].sum(0), 0)  # (M,)
            by_shots[n].append(_accuracy(torch.sigmoid(q_margin) @ posterior, q_out))
    oracle_mean = sum(oracle) / len(oracle)
    bayes = {str(n): sum(v) / len(v) for n, v in by_shots.items()}
    return {"alpha": alpha, "beta": beta, "oracle": oracle_mean, "bayes": bayes,
            "bayes_over_oracle": {n: a / oracle_mean for n, a in bayes.items()}}


def judge_probes(pool: object, judges: torch.Tensor) -> dict[str, float]:
    """Cross-validated R² of a ridge probe of each judge from [standardised axes; embedding], folds by prompt."""
    from personalization.judges import JUDGE_NAMES

    axes = (pool.axes - pool.axes.mean(0)) / pool.axes.std(0).clamp(min=1e-3)  # type: ignore[attr-defined]
    features = torch.cat([axes, pool.embeddings], 1).numpy()  # type: ignore[attr-defined]
    groups = pool.prompt_of.numpy()  # type: ignore[attr-defined]
    out = {}
    for j, name in enumerate(JUDGE_NAMES):
        target = judges[:, j].numpy()
        predicted = cross_val_predict(RidgeCV(alphas=np.logspace(-2, 3, 12)), features, target, groups=groups,
                                      cv=GroupKFold(5))
        out[name] = float(1.0 - ((predicted - target) ** 2).mean() / target.var())
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pool", default=str(ROOT / "webapp" / "catalog" / "demo" / "pool.jsonl.gz"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--alphas", default="0.3", help="Dirichlet concentrations to map (protocol default 0.3)")
    parser.add_argument("--betas", default="4", help="reward scales to map (protocol default 4)")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--particles", type=int, default=20000)
    parser.add_argument("--no-pipeline", action="store_true", help="skip the pipeline run on judge features")
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = SimulatedConfig(seed=args.seed)
    pool = pool_read(args.pool)
    judges = judges_standardised(pool.texts).z  # (R, J)
    grid = []
    for alpha in (float(a) for a in args.alphas.split(",")):
        for beta in (float(b) for b in args.betas.split(",")):
            row = bayes_ceiling(judges, pool.prompt_of, alpha, beta, cfg.shots, args.users, args.particles,
                                args.seed)
            print(f"alpha={alpha:g} beta={beta:g}: oracle {row['oracle']:.3f}, exact Bayes "
                  + ", ".join(f"@{n} {a:.3f}" for n, a in row["bayes"].items())  # type: ignore[attr-defined]
                  + f"; @10 / oracle {row['bayes_over_oracle']['10']:.3f}", flush=True)  # type: ignore[index]
            grid.append(row)
    probes = judge_probes(pool, judges)
    print("ridge probe R² of each judge from the model's features: "
          + ", ".join(f"{name} {r2:.2f}" for name, r2 in probes.items()))
    report: dict[str, object] = {"protocol": "simulated-bayes-ceiling", "pool": args.pool, "seed": args.seed,
                                 "shots": list(cfg.shots), "grid": grid, "judge_probe_r2": probes}
    if not args.no_pipeline:
        judged = dataclasses.replace(pool, embeddings=judges.float())
        run = simulated_run(judged, dataclasses.replace(cfg, active_users=0), log=print)
        report["pipeline_on_judge_features"] = {"accuracy": run["accuracy"], "ci95": run["ci95"], "bank": run["bank"],
                                                "prototypes_k": run["prototypes_k"]}
        for method, by_shots in run["accuracy"].items():  # type: ignore[attr-defined]
            print(f"judge features, {method}: " + ", ".join(f"@{n} {a:.3f}" for n, a in by_shots.items()))
    out = Path(args.json_out) if args.json_out else ROOT / "benchmarks" / "results" / (
        f"simulated_bayes_ceiling_seed{args.seed}.json")
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
