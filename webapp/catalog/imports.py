"""Reading a bulk import file (JSONL or CSV) of prompts and responses, validating every row before any write.

One row is one answer to one prompt: ``prompt`` and ``response`` (required), ``style`` and ``domain``
(optional). JSONL: one object per line. CSV: a header row naming those columns. A file with any bad row is
refused whole, with every bad row's number and what is wrong with it.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

MAX_ROWS = 5000
MAX_PROMPT_CHARS = 4000
MAX_RESPONSE_CHARS = 20000
MAX_LABEL_CHARS = 40
FIELDS = ("prompt", "response", "style", "domain")


@dataclass(frozen=True)
class ImportRow:
    prompt: str
    response: str
    style: str
    domain: str


@dataclass(frozen=True)
class RowError:
    row: int  # 1-based line (JSONL) or data row (CSV, the header is row 0)
    errors: dict[str, str]


class ImportFileError(ValueError):
    """The file cannot be read as a whole (encoding, format, size); ``str(exc)`` is safe to show."""


def _check(raw: object) -> tuple[ImportRow | None, dict[str, str]]:
    if not isinstance(raw, dict):
        return None, {"row": "must be an object with prompt and response"}
    errors: dict[str, str] = {}
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        errors["row"] = f"unknown fields {unknown}; allowed: {list(FIELDS)}"
    values: dict[str, str] = {}
    limits = {"prompt": MAX_PROMPT_CHARS, "response": MAX_RESPONSE_CHARS, "style": MAX_LABEL_CHARS,
              "domain": MAX_LABEL_CHARS}
    for name, limit in limits.items():
        value = raw.get(name, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            errors[name] = "must be text"
            continue
        value = value.strip()
        if name in ("prompt", "response") and not value:
            errors[name] = "is required"
        elif len(value) > limit:
            errors[name] = f"is limited to {limit} characters"
        elif "\x00" in value:
            errors[name] = "contains a NUL character"
        values[name] = value
    if errors:
        return None, errors
    return ImportRow(**values), {}


def import_rows_parse(*, content: bytes, fmt: str) -> tuple[list[ImportRow], list[RowError]]:
    """Every row of the file, or every bad row with what is wrong (duplicates within the file included)."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"the file is not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    raw_rows: list[tuple[int, object]] = []
    if fmt == "jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                raw_rows.append((number, json.loads(line)))
            except json.JSONDecodeError as exc:
                raw_rows.append((number, ValueError(f"not JSON: {exc.msg}")))
    elif fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        if reader.fieldnames is None or not {"prompt", "response"} <= set(reader.fieldnames):
            raise ImportFileError("the CSV header must name at least the columns prompt and response")
        try:
            for number, record in enumerate(reader, start=1):
                if None in record:  # more cells than header columns
                    raw_rows.append((number, ValueError("more cells than header columns")))
                else:
                    raw_rows.append((number, record))
        except csv.Error as exc:
            raise ImportFileError(f"unreadable CSV: {exc}") from exc
    else:
        raise ImportFileError(f"unknown format {fmt!r}: use jsonl or csv")
    if not raw_rows:
        raise ImportFileError("the file has no rows")
    if len(raw_rows) > MAX_ROWS:
        raise ImportFileError(f"at most {MAX_ROWS} rows per import, got {len(raw_rows)}")
    rows: list[ImportRow] = []
    errors: list[RowError] = []
    seen: dict[tuple[str, str], int] = {}
    for number, raw in raw_rows:
        if isinstance(raw, ValueError):
            errors.append(RowError(row=number, errors={"row": str(raw)}))
            continue
        row, problems = _check(raw)
        if row is not None:
            first = seen.setdefault((row.prompt, row.response), number)
            if first != number:
                problems = {"response": f"duplicates row {first}"}
        if problems:
            errors.append(RowError(row=number, errors=problems))
        elif row is not None:
            rows.append(row)
    return rows, errors
