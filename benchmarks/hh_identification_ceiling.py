"""How far can a few votes go on the hh protocol? An upper-bound analysis, not a method.

Give the model each user type's own reward (a logistic Bradley–Terry fit on all --train pairs of that type: the
oracle) and let it identify a test user's type exactly as Bayes would, from n support votes. The resulting
accuracy bounds what any method using these features can reach at n votes.

    .venv/bin/python benchmarks/hh_identification_ceiling.py --split-from /work/shared/data/hh_relabeled_dev.jsonl.gz
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from personalization.bench.hh_data import encoder_factory_for, pairs_featurize, rows_read, rows_split
from personalization.user_model import UserRewardModel


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split-from", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--encoder", default="minilm", help="minilm, smollm2-mean or smollm2-last")
    parser.add_argument("--cache-dir", default="var/cache/embeddings")
    args = parser.parse_args()
    torch.set_num_threads(1)
    train_rows, test_rows = rows_split(rows_read(args.split_from), seed=args.seed)
    name, factory = encoder_factory_for(args.encoder)
    train = pairs_featurize(train_rows, name, factory, args.cache_dir)
    test = pairs_featurize(test_rows, name, factory, args.cache_dir)
    std = torch.cat([train.axes_first, train.axes_second]).std(0).clamp(min=1e-3)

    def raw(p: object) -> torch.Tensor:
        return torch.cat([(p.axes_first - p.axes_second) / std, p.emb_first - p.emb_second], 1).double()  # type: ignore[attr-defined]

    x_train, x_test = raw(train), raw(test)
    oracles = [UserRewardModel(prior_precision=1.0, tie_strength=0.0).fit(
        x_train[train.objective == t], train.outcome[train.objective == t]).weights_ for t in range(2)]
    rng = random.Random(args.seed)
    report: dict[str, dict[str, float]] = {}
    for n in (1, 2, 5, 10, 20):
        right, accuracy = [], []
        for u in range(args.users):
            t = u % 2
            idx = (test.objective == t).nonzero().flatten().tolist()
            rng.shuffle(idx)
            s, q = torch.tensor(idx[:n]), torch.tensor(idx[20:])
            log_lik = torch.stack([torch.nn.functional.logsigmoid((x_test[s] @ w) * test.outcome[s]).sum()
                                   for w in oracles])
            post = torch.softmax(log_lik, 0)
            p_first = sum(post[k] * torch.sigmoid(x_test[q] @ oracles[k]) for k in range(2))
            accuracy.append(float(((p_first > 0.5) == (test.outcome[q] == 1)).double().mean()))
            right.append(float(post[t]))
        report[str(n)] = {"p_true_type": sum(right) / len(right), "accuracy": sum(accuracy) / len(accuracy)}
    text = json.dumps({"protocol": "hh-identification-ceiling", "encoder": args.encoder, "seed": args.seed,
                       "by_shots": report}, indent=2)
    print(text)
    suffix = "" if args.encoder == "minilm" else f"_{args.encoder}"
    out = Path(__file__).resolve().parent / "results" / f"hh_identification_ceiling{suffix}_seed{args.seed}.json"
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
