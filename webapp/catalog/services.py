"""Writes for the catalog: importing the demo pool (prompts and responses with precomputed features) and bulk
imports of prompts and responses (features computed afterwards by a worker)."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NotRequired, TypedDict, cast

from django.db import transaction

from webapp.catalog.imports import ImportRow
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


class PoolResponse(TypedDict):
    """One candidate answer in a pool file line; ``embedding`` is base64 float32 bytes."""

    text: str
    axis_scores: list[float]
    style: NotRequired[str]
    embedding: NotRequired[str | None]


class PoolRow(TypedDict):
    """One pool file line after the header: a prompt and its candidates."""

    text: str
    responses: list[PoolResponse]
    domain: NotRequired[str]


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


def _validate(number: int, row: dict[str, object]) -> PoolRow:
    if not isinstance(row.get("text"), str) or not row["text"]:
        raise PoolFileError(f"line {number}: prompt text missing")
    responses = row.get("responses")
    if not isinstance(responses, list) or len(responses) < 2:
        raise PoolFileError(f"line {number}: a prompt needs at least two responses")
    for r in responses:
        scores = r.get("axis_scores")
        if not isinstance(r.get("text"), str) or not isinstance(scores, list) or len(scores) != AXIS_COUNT:
            raise PoolFileError(f"line {number}: each response needs text and {AXIS_COUNT} axis scores")
    return cast(PoolRow, row)  # checked above, key by key


@transaction.atomic
def pool_import(*, path: Path, progress: Callable[[int, int], None] | None = None) -> PoolImport:
    """Import a demo pool file; prompts already present are skipped, so running it twice changes nothing.

    The whole file is validated before anything is written, and the import is one transaction.
    """
    header, rows = _rows(path)
    checked = [_validate(number, row) for number, row in enumerate(rows, start=2)]
    created_prompts = created_responses = skipped = 0
    for i, row in enumerate(checked, start=1):
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
                embedding=base64.b64decode(encoded) if (encoded := r.get("embedding")) else None,
                encoder=str(header.get("encoder", "")) if r.get("embedding") else "",
            )
            for r in row["responses"]
        )
        created_responses += len(row["responses"])
        if progress:
            progress(i, len(rows))
    return PoolImport(prompts_created=created_prompts, responses_created=created_responses, skipped_prompts=skipped)


@dataclass(frozen=True)
class ResponsesImport:
    prompts_created: int
    responses_created: int
    responses_skipped: int  # already in the catalog (importing a file twice adds nothing)
    response_ids: list[int]


@transaction.atomic
def responses_import(*, rows: list[ImportRow]) -> ResponsesImport:
    """Store validated import rows in one transaction: prompts by text (reused when present), responses without
    features (a gpu worker computes them; see ``webapp.api.services.features_start``)."""
    prompt_texts = sorted({r.prompt for r in rows})
    prompts = {p.text: p for p in Prompt.objects.filter(text__in=prompt_texts)}
    created_prompts = 0
    for row in rows:
        if row.prompt not in prompts:
            prompts[row.prompt] = Prompt.objects.create(text=row.prompt, domain=row.domain or "import",
                                                        source=Prompt.Source.IMPORT)
            created_prompts += 1
    existing = set(Response.objects.filter(prompt__in=prompts.values()).values_list("prompt_id", "text"))
    new = [Response(prompt=prompts[r.prompt], text=r.response, style=r.style or "import", generator="import")
           for r in rows if (prompts[r.prompt].pk, r.response) not in existing]
    created = Response.objects.bulk_create(new)
    return ResponsesImport(prompts_created=created_prompts, responses_created=len(created),
                           responses_skipped=len(rows) - len(created), response_ids=[r.pk for r in created])


class CatalogInUse(ValueError):
    """A prompt or response people voted on cannot be deleted (it would delete their votes); ``str(exc)`` is safe
    to show."""


@transaction.atomic
def prompt_delete(*, prompt_id: int) -> None:
    from webapp.votes.models import Pair

    if Pair.objects.filter(prompt_id=prompt_id).exists():
        raise CatalogInUse("this prompt was shown in pairs; deleting it would delete people's votes")
    Prompt.objects.filter(pk=prompt_id).delete()


@transaction.atomic
def response_delete(*, response_id: int) -> None:
    from django.db.models import Q

    from webapp.votes.models import Pair

    if Pair.objects.filter(Q(left_id=response_id) | Q(right_id=response_id)).exists():
        raise CatalogInUse("this response was shown in pairs; deleting it would delete people's votes")
    Response.objects.filter(pk=response_id).delete()
