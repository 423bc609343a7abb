"""Does the reward learned from pool votes transfer to the generator's own answers?

Simulated users (the ``simulated`` protocol's judge mixtures) give 20 votes on the demo pool and are fitted as the
worker fits them; then, on SmolLM2's unstyled samples for a few Koala prompts, the within-prompt correlation of
their learned reward with their true reward is measured, for the full weights, the dual-granularity score, the named
axes alone and the latent bases alone, next to best-of-4 on the pool itself. Prints and writes JSON under
benchmarks/results/.

    .venv/bin/python benchmarks/reward_transfer.py --prompts /work/shared/data/koala_eval_50.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.report import report_write  # noqa: E402
from personalization.axes import AXIS_NAMES, axes_score  # noqa: E402
from personalization.bench.simulated import (  # noqa: E402
    SimulatedConfig,
    _pairs,
    _votes,
    judges_apply,
    judges_standardised,
    pool_read,
    training_population,
    user_mixtures,
)
from personalization.bench.winrate import prompts_read  # noqa: E402
from personalization.encoder import EncoderConfig, SentenceEncoder  # noqa: E402
from personalization.generation import Generator, GeneratorConfig, SamplingConfig  # noqa: E402


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.corrcoef(torch.stack([a.double(), b.double()]))[0, 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", required=True)
    parser.add_argument("--first", type=int, default=20, help="index of the first prompt used")
    parser.add_argument("--n-prompts", type=int, default=6)
    parser.add_argument("--samples", type=int, default=8, help="answers sampled per prompt")
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "reward_transfer.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sim = SimulatedConfig()
    pool = pool_read(ROOT / "webapp" / "catalog" / "demo" / "pool.jsonl.gz")
    gen = torch.Generator().manual_seed(0)
    judges = judges_standardised(pool.texts)
    dirichlet = user_mixtures(sim.alpha)
    fitted, _, _ = training_population(pool, judges.z, dirichlet, sim, gen)
    bank = fitted.bank
    phi = bank.features(pool.axes, pool.embeddings).double()  # (R, K)
    generator = Generator(GeneratorConfig(cache_dir=str(ROOT / "var" / "models"), device="cpu"))
    encoder = SentenceEncoder(EncoderConfig(device="cpu"))
    prompts = prompts_read(args.prompts)[args.first : args.first + args.n_prompts]
    generated = []
    for p, prompt in enumerate(prompts):
        texts = generator.generate_candidates([{"role": "user", "content": prompt}], args.samples,
                                              SamplingConfig(max_new_tokens=64, temperature=0.7, top_p=0.9, seed=p))
        axes = torch.tensor([axes_score(prompt, t) for t in texts], dtype=torch.float32)  # (S, A)
        generated.append((bank.features(axes, encoder.encode([prompt] * len(texts), texts)).double(),
                          judges_apply(judges, texts)))
    a = len(AXIS_NAMES)
    corr: dict[str, list[float]] = {"full weights": [], "dual-granularity": [], "named axes only": [],
                                    "latent bases only": []}
    pool_wins: list[float] = []
    all_prompts = torch.arange(int(pool.prompt_of.max()) + 1)
    for _ in range(args.users):
        mix = dirichlet.sample()  # (J,)
        true_pool = sim.beta * judges.z @ mix
        pairs = _pairs(pool.prompt_of, all_prompts, 20, gen)
        individual, posterior = fitted.user_fit(phi[pairs[:, 0]] - phi[pairs[:, 1]], _votes(true_pool, pairs, gen))
        w = individual.weights_
        for feats, judged in generated:
            true = sim.beta * judged @ mix
            corr["full weights"].append(_corr(feats @ w, true))
            corr["dual-granularity"].append(_corr(fitted.score(feats, individual, posterior,
                                                                 torch.Generator().manual_seed(0)), true))
            corr["named axes only"].append(_corr(feats[:, :a] @ w[:a], true))
            if bank.n_latent:
                corr["latent bases only"].append(_corr(feats[:, a:] @ w[a:], true))
        for p in all_prompts.tolist():  # best-of-4 against a random default, on the pool's styled answers
            members = (pool.prompt_of == p).nonzero().flatten()
            order = members[torch.randperm(len(members), generator=gen)]
            scores = fitted.score(phi[order[1:5]], individual, posterior, torch.Generator().manual_seed(0))
            pool_wins.append(float(true_pool[order[1:5][int(scores.argmax())]] > true_pool[order[0]]))
    report_write(args.json, {
        "benchmark": "learned reward vs true reward: pool answers and the generator's own samples",
        "users": args.users, "prompts": len(prompts), "samples_per_prompt": args.samples, "votes_per_user": 20,
        "bank": {"names": bank.names_, "meta_prior_mean": [round(float(x), 3) for x in fitted.meta.mean_]},
        "within_prompt_correlation_on_generated": {k: round(sum(v) / len(v), 3) for k, v in corr.items() if v},
        "pool_best_of_4_win_rate_vs_random_default": round(sum(pool_wins) / len(pool_wins), 3),
    })


if __name__ == "__main__":
    main()
