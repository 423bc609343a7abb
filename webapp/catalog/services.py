"""Writes for the catalog: importing the demo pool (prompts and responses with precomputed features)."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from webapp.catalog.models import Prompt, Response

AXIS_COUNT = 8
POOL_FORMAT = 1


class PoolFileError(ValueError):
    """The pool file is not in the expected format; nothing was imported."""


@dataclass(frozen=True)
class PoolImport:
    prompts_created: int
    responses_created: int
    skipped_prompts: int


def _rows(path: Path) -> tuple[dict[str, object], list[dict[str, object]]]:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            lines = [json.loads(line) for line in fh if line.strip()]
    except (OSError, json.JSONDecodeError) as exc:
        raise PoolFileError(f"{path}: not a gzipped JSONL pool file ({exc})") from exc
    if not lines or "header" not in lines[0]:
        raise PoolFileError(f"{path}: first line must be {{\"header\": ...}}")
    header = lines[0]["header"]
    if header.get("format") != POOL_FORMAT:
        raise PoolFileError(f"{path}: pool format {header.get('format')!r} is not {POOL_FORMAT}")
    return header, lines[1:]


def _validate(number: int, row: dict[str, object]) -> None:
    if not isinstance(row.get("text"), str) or not row["text"]:
        raise PoolFileError(f"line {number}: prompt text missing")
    responses = row.get("responses")
    if not isinstance(responses, list) or len(responses) < 2:
        raise PoolFileError(f"line {number}: a prompt needs at least two responses")
    for r in responses:
        scores = r.get("axis_scores")
        if not isinstance(r.get("text"), str) or not isinstance(scores, list) or len(scores) != AXIS_COUNT:
            raise PoolFileError(f"line {number}: each response needs text and {AXIS_COUNT} axis scores")


@transaction.atomic
def pool_import(*, path: Path, progress: Callable[[int, int], None] | None = None) -> PoolImport:
    """Import a demo pool file; prompts already present are skipped, so running it twice changes nothing.

    The whole file is validated before anything is written, and the import is one transaction.
    """
    header, rows = _rows(path)
    for number, row in enumerate(rows, start=2):
        _validate(number, row)
    created_prompts = created_responses = skipped = 0
    for i, row in enumerate(rows, start=1):
        prompt, created = Prompt.objects.get_or_create(
            text=row["text"], defaults={"domain": row.get("domain", ""), "source": Prompt.Source.DEMO}
        )
        if not created and prompt.responses.exists():
            skipped += 1
            continue
        created_prompts += int(created)
        Response.objects.bulk_create(
            Response(
                prompt=prompt, text=r["text"], style=r.get("style", ""), generator=str(header.get("generator", "")),
                axis_scores=r["axis_scores"],
                embedding=base64.b64decode(r["embedding"]) if r.get("embedding") else None,
                encoder=str(header.get("encoder", "")) if r.get("embedding") else "",
            )
            for r in row["responses"]  # type: ignore[union-attr]
        )
        created_responses += len(row["responses"])  # type: ignore[arg-type]
        if progress:
            progress(i, len(rows))
    return PoolImport(prompts_created=created_prompts, responses_created=created_responses, skipped_prompts=skipped)
