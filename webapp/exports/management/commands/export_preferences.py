"""``manage.py export_preferences --out DIR [--user NAME|ID] [--prototype KEY] [--exclude-flagged]``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from webapp.exports.selectors import KINDS, ExportScope
from webapp.exports.services import export_total, export_write


class Command(BaseCommand):
    help = ("Export preference data: DPO triples, ties, both-bad and raw votes as JSONL, and a Hugging Face "
            "dataset (save_to_disk), for one user, one prototype or everyone.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", required=True, type=Path, help="directory to write into")
        who = parser.add_mutually_exclusive_group()
        who.add_argument("--user", help="username or id (default: everyone)")
        who.add_argument("--prototype", type=int, help="prototype key: its members' votes")
        parser.add_argument("--kinds", default=",".join(KINDS), help=f"comma separated, from {','.join(KINDS)}")
        parser.add_argument("--no-dataset", action="store_true", help="skip the Hugging Face dataset")
        parser.add_argument("--exclude-flagged", action="store_true", help="leave out voters flagged by quality control")

    def handle(self, *args: Any, **options: Any) -> None:
        user_id = None
        if options["user"]:
            users = get_user_model().objects
            ref = options["user"]
            user = users.filter(pk=int(ref)).first() if ref.isdigit() else users.filter(username=ref).first()
            if user is None:
                raise CommandError(f"no user {ref!r}")
            user_id = user.pk
        kinds = [k.strip() for k in options["kinds"].split(",") if k.strip()]
        unknown = sorted(set(kinds) - set(KINDS))
        if unknown:
            raise CommandError(f"unknown kinds {unknown}; choose from {','.join(KINDS)}")
        scope = ExportScope(user_id=user_id, prototype_key=options["prototype"],
                            exclude_flagged=options["exclude_flagged"])
        dataset = not options["no_dataset"]
        total = export_total(scope=scope, kinds=kinds, dataset=dataset)
        with tqdm(total=total, unit="row", desc="export", file=self.stderr._out, disable=options["verbosity"] == 0,
                  mininterval=0.5) as bar:
            written = export_write(directory=options["out"], scope=scope, kinds=kinds, dataset=dataset,
                                   progress=bar.update)
        for kind, n in written.rows.items():
            self.stdout.write(f"{kind}: {n} rows → {written.directory / (kind + '.jsonl')}")
        if written.dataset is not None:
            self.stdout.write(f"dataset → {written.dataset}")
