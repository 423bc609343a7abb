"""``python -m personalization.bench <protocol> [--seed N] [--json OUT] [--plot OUT.png]``.

Protocols: ``hh`` (``--train FILE --test FILE``, or ``--split-from FILE`` for a deterministic 70/30 split by pair),
``simulated`` (``--pool FILE``), ``refit`` (CPU timing of one user's refit), ``winrate`` (``--prompts FILE``:
personalized answers vs the default under simulated users' true reward; loads the generator and the encoder).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch


def _write(report: dict[str, Any], json_out: str | None, plot_out: str | None) -> None:
    text = json.dumps(report, indent=2)
    print(text)
    if json_out:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(text + "\n")
    if plot_out:
        from personalization.bench.plots import accuracy_plot

        accuracy_plot(report, plot_out)


def _population(args: argparse.Namespace, base: Any) -> Any:
    """The protocol's population settings, with the command line's overrides."""
    import dataclasses

    changes: dict[str, Any] = {"meta_steps": args.meta_steps, "seed": args.seed}
    if args.bases:
        changes["bases"] = args.bases
    if args.ranks:
        changes["ranks"] = tuple(int(r) for r in args.ranks.split(","))
    if args.l2_scales:
        changes["l2_scales"] = tuple(float(s) for s in args.l2_scales.split(","))
    return dataclasses.replace(base, **changes)


def _hh(args: argparse.Namespace) -> dict[str, Any]:
    from personalization.bench.hh import HHConfig, hh_run
    from personalization.bench.hh_data import encoder_factory_for, pairs_featurize, rows_read, rows_split

    if args.split_from:
        train_rows, test_rows = rows_split(rows_read(args.split_from), seed=args.seed)
    elif args.train and args.test:
        train_rows, test_rows = rows_read(args.train), rows_read(args.test)
    else:
        raise SystemExit("hh needs --train FILE --test FILE, or --split-from FILE")
    name, factory = encoder_factory_for(args.encoder, device=args.device)
    train = pairs_featurize(train_rows, name, factory, args.cache_dir)
    test = pairs_featurize(test_rows, name, factory, args.cache_dir)
    cfg = HHConfig(n_users=args.users, seed=args.seed, population=_population(args, HHConfig().population))
    report = hh_run(train, test, cfg)
    report["encoder"] = args.encoder
    report["n_train"], report["n_test"] = len(train), len(test)
    return report


def _simulated(args: argparse.Namespace) -> dict[str, Any]:
    from personalization.bench.simulated import SimulatedConfig, simulated_run

    cfg = SimulatedConfig(n_test_users=args.users, seed=args.seed,
                          population=_population(args, SimulatedConfig().population))
    return simulated_run(args.pool, cfg)


def _refit(args: argparse.Namespace) -> dict[str, Any]:
    from personalization.bench.refit import refit_timing

    return refit_timing(seed=args.seed)


def _winrate(args: argparse.Namespace) -> dict[str, Any]:
    from personalization.bench.simulated import SimulatedConfig
    from personalization.bench.winrate import METHODS, WinRateConfig, winrate_main
    from personalization.guidance import styles_read

    if not args.prompts:
        raise SystemExit("winrate needs --prompts FILE (a JSON list of {id, prompt}, e.g. koala_eval_50.json)")
    methods = tuple(m for m in args.methods.split(",") if m) if args.methods else METHODS
    # the app's bank refit default (TAILOR_BANK_BASES): for reranking, factorization bases measured 0.76 against
    # 0.74 with mixture bases (styled best-of-16, seed 0); --bases mixture reruns the other
    import dataclasses

    reranking = dataclasses.replace(SimulatedConfig().population, bases="factorization")
    try:
        cfg = WinRateConfig(n_users=args.users, votes=args.votes, n_candidates=args.candidates,
                            max_new_tokens=args.max_new_tokens, methods=methods, seed=args.seed,
                            styles=styles_read(args.styles), samples_per_style=args.samples_per_style,
                            simulated=SimulatedConfig(seed=args.seed, population=_population(args, reranking)))
    except ValueError as exc:
        raise SystemExit(f"winrate: {exc}") from exc

    def checkpoint(report: dict[str, Any]) -> None:
        if args.json_out:  # a long run stopped early keeps the figures of the prompts it finished
            Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json_out).write_text(json.dumps(report, indent=2) + "\n")

    return winrate_main(args.pool, args.prompts, args.limit, args.device, args.model_cache_dir, cfg, checkpoint)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m personalization.bench", description=__doc__)
    parser.add_argument("protocol", choices=["hh", "simulated", "refit", "winrate"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", dest="json_out")
    parser.add_argument("--plot", dest="plot_out")
    parser.add_argument("--train")
    parser.add_argument("--test")
    parser.add_argument("--split-from")
    parser.add_argument("--encoder", default="smollm2-mean",
                        help="hh: smollm2-mean (the default: best tailor@10 on the dev split), minilm or smollm2-last")
    parser.add_argument("--pool", default="webapp/catalog/demo/pool.jsonl.gz")
    parser.add_argument("--users", type=int, default=None,
                        help="simulated unseen test users (default 200; winrate: 4)")
    parser.add_argument("--prompts", help="winrate: evaluation prompts (JSON list of {id, prompt})")
    parser.add_argument("--limit", type=int, default=None, help="winrate: use only the first N prompts")
    parser.add_argument("--methods", default="", help="winrate: comma-separated subset of the methods")
    parser.add_argument("--styles", default="webapp/catalog/demo/prompts.json",
                        help="winrate: style instructions for styled-best-of-n (a JSON file with a 'styles' list)")
    parser.add_argument("--votes", type=int, default=20, help="winrate: pool votes per simulated user")
    parser.add_argument("--candidates", type=int, default=8, help="winrate: N of best-of-N")
    parser.add_argument("--samples-per-style", type=int, default=2,
                        help="winrate: styled best-of-N's answers per style (N = this x styles)")
    parser.add_argument("--max-new-tokens", type=int, default=96, help="winrate: tokens per answer")
    parser.add_argument("--model-cache-dir", default="var/models", help="winrate: dequantised generator cache")
    parser.add_argument("--ranks", default="", help="candidate latent ranks, chosen by validation (default 1,2,4,8)")
    parser.add_argument("--l2-scales", default="", help="factorization penalty scales (default: per protocol)")
    parser.add_argument("--meta-steps", type=int, default=300, help="outer steps of the meta-learned prior")
    parser.add_argument("--bases", default="", choices=["", "mixture", "factorization"],
                        help="how latent bases and prototypes are learned (default: mixture; winrate: factorization)")
    parser.add_argument("--cache-dir", default="var/cache/embeddings")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (the host is shared)")
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    torch.set_num_threads(args.threads)
    if args.users is None:
        args.users = 4 if args.protocol == "winrate" else 200
    run = {"hh": _hh, "simulated": _simulated, "refit": _refit, "winrate": _winrate}[args.protocol]
    with threadpool_limits(limits=args.threads):  # BLAS threads fight torch's on a shared host
        report = run(args)
    _write(report, args.json_out, args.plot_out)


if __name__ == "__main__":
    main()
