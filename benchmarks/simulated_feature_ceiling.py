"""Upper bound for the ``simulated`` protocol: how well can a linear reward on the model's features fit one
simulated user given many votes? Per-user logistic Bradley–Terry fits on [standardised axes, embedding] with
10…1,000 votes, against the true-mixture oracle, for 20 users drawn like the protocol's.

    .venv/bin/python benchmarks/simulated_feature_ceiling.py --pool webapp/catalog/demo/pool.jsonl.gz
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from personalization.bench.simulated import _pairs, _votes, pool_read
from personalization.judges import JUDGE_NAMES, judges_score
from personalization.user_model import UserRewardModel


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pool", required=True)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--alpha", type=float, default=0.3)
    parser.add_argument("--beta", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    pool = pool_read(args.pool)
    gen = torch.Generator().manual_seed(args.seed)
    judges = torch.tensor([judges_score(t) for t in pool.texts], dtype=torch.float64)
    judges = (judges - judges.mean(0)) / judges.std(0).clamp(min=1e-9)
    axes = ((pool.axes - pool.axes.mean(0)) / pool.axes.std(0).clamp(min=1e-3)).double()
    features = torch.cat([axes, pool.embeddings.double()], 1)  # (R, A + d)
    prompts = torch.arange(int(pool.prompt_of.max()) + 1)
    mixes = torch.distributions.Dirichlet(torch.full((len(JUDGE_NAMES),), args.alpha, dtype=torch.float64)).sample(
        (args.users,))
    budgets = (10, 50, 200, 1000)
    fitted: dict[int, list[float]] = {n: [] for n in budgets}
    oracle: list[float] = []
    for mix in mixes:
        reward = args.beta * judges @ mix
        query = _pairs(pool.prompt_of, prompts, 300, gen)
        q_out = _votes(reward, query, gen)
        support = _pairs(pool.prompt_of, prompts, max(budgets), gen)
        s_out = _votes(reward, support, gen)
        oracle.append(float(((reward[query[:, 0]] > reward[query[:, 1]]) == (q_out == 1)).double().mean()))
        for n in budgets:
            model = UserRewardModel(prior_precision=1.0, tie_strength=0.0).fit(
                features[support[:n, 0]] - features[support[:n, 1]], s_out[:n])
            predicted = model.score(features[query[:, 0]] - features[query[:, 1]]) > 0
            fitted[n].append(float((predicted == (q_out == 1)).double().mean()))
    report = {"protocol": "simulated-feature-ceiling", "pool": args.pool, "oracle": sum(oracle) / len(oracle),
              "linear_fit_by_votes": {str(n): sum(v) / len(v) for n, v in fitted.items()}}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
