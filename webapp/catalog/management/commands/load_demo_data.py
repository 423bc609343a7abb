from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from webapp.catalog.services import PoolFileError, pool_import


class Command(BaseCommand):
    help = "Import Tailor's demo prompt library and candidate pool (no model is loaded). Safe to run twice."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--file", type=Path, default=settings.TAILOR_DEMO_DIR / "pool.jsonl.gz")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.exists():
            raise CommandError(f"{path} does not exist: generate it with `manage.py generate_demo_pool`")

        def progress(done: int, total: int) -> None:
            if done == total or done % 10 == 0:
                self.stdout.write(f"  imported {done}/{total} prompts")

        try:
            result = pool_import(path=path, progress=progress)
        except PoolFileError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(
            f"demo data: {result.prompts_created} prompts and {result.responses_created} responses created, "
            f"{result.skipped_prompts} prompts already present"
        ))
