from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Generate the demo candidate pool with the project's own generator (SmolLM2 by default): every prompt of "
        "the demo library under each style, scored on the named axes and embedded. Takes ~15-30 min on a CPU."
    )

    def add_arguments(self, parser: Any) -> None:
        demo = settings.TAILOR_DEMO_DIR
        parser.add_argument("--prompts", type=Path, default=demo / "prompts.json")
        parser.add_argument("--out", type=Path, default=demo / "pool.jsonl.gz")
        parser.add_argument("--report", type=Path, default=demo / "pool_report.json")
        parser.add_argument("--limit", type=int, default=None, help="only the first N prompts")
        parser.add_argument("--batch-size", type=int, default=8)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--retries", type=int, default=4,
                            help="times a degenerate answer is sampled again before it is left out")
        parser.add_argument("--repair", action="store_true",
                            help="keep the existing pool (--out) and only rewrite its degenerate answers")

    def handle(self, *args: Any, **options: Any) -> None:
        from tqdm import tqdm

        from workers.config import worker_config
        from workers.demo_pool import demo_pool_generate

        if options["limit"] is not None and options["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        if options["retries"] < 0:
            raise CommandError("--retries must be 0 or more")
        if options["repair"] and not options["out"].exists():
            raise CommandError(f"--repair: {options['out']} does not exist")
        if not options["prompts"].exists():
            raise CommandError(f"{options['prompts']} does not exist")
        config = worker_config()
        bar = tqdm(total=1, unit="answer")

        def progress(done: int, total: int, message: str) -> None:
            bar.total = total
            bar.set_description(message)
            bar.update(done - bar.n)

        report = demo_pool_generate(
            prompts_file=options["prompts"], out_file=options["out"], generator_path=config.generator,
            encoder_path=config.encoder, cache_dir=config.model_cache_dir, device=config.device,
            limit=options["limit"], batch_size=options["batch_size"], seed=options["seed"], retries=options["retries"],
            repair_from=options["out"] if options["repair"] else None, progress=progress,
        )
        bar.close()
        options["report"].write_text(json.dumps(report, indent=2) + "\n")
        self.stdout.write(json.dumps(report["axis_spread"], indent=2))
        self.stdout.write(self.style.SUCCESS(f"wrote {report['responses']} responses to {options['out']}"))
