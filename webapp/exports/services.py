"""Writing exports to disk: JSONL files and a Hugging Face ``datasets`` DatasetDict saved with ``save_to_disk``.

``datasets`` (and pyarrow) are imported inside ``dataset_write`` only: the web process never loads them. Nothing
is downloaded (the dataset is built from rows in memory, with the hub switched offline).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webapp.exports.selectors import KINDS, ExportScope, export_count, export_rows

Progress = Callable[[int], None]


@dataclass(frozen=True)
class ExportWritten:
    directory: Path
    rows: dict[str, int]  # export kind → rows written
    dataset: Path | None


def jsonl_write(*, path: Path, kind: str, scope: ExportScope, progress: Progress | None = None) -> int:
    """One export as JSON Lines; written to a temporary name and renamed, so a failed export leaves no half file."""
    tmp = path.with_name(path.name + ".partial")
    count = 0
    with tmp.open("w", encoding="utf-8") as fh:
        for row in export_rows(kind=kind, scope=scope):
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
            if progress:
                progress(1)
    tmp.replace(path)
    return count


def _features() -> dict[str, Any]:
    from datasets import Features, Value

    common = {"user_id": Value("int64"), "prototype_id": Value("int64"), "strength": Value("int64"),
              "vote_id": Value("int64")}
    pair = {"prompt": Value("string"), "response_a": Value("string"), "response_b": Value("string"), **common,
            "response_a_id": Value("int64"), "response_b_id": Value("int64")}
    return {
        "dpo": Features({"prompt": Value("string"), "chosen": Value("string"), "rejected": Value("string"), **common,
                         "chosen_id": Value("int64"), "rejected_id": Value("int64")}),
        "ties": Features(pair),
        "both_bad": Features(pair),
    }


def dataset_write(*, directory: Path, scope: ExportScope, progress: Progress | None = None) -> Path:
    """A DatasetDict with splits ``dpo`` (prompt/chosen/rejected + ids and strength), ``ties`` and ``both_bad``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    from datasets import Dataset, DatasetDict, disable_progress_bars

    disable_progress_bars()  # the caller's bar counts the rows; datasets' per-shard bars would interleave with it

    features = _features()
    splits = {}
    for kind in ("dpo", "ties", "both_bad"):
        rows = []
        for row in export_rows(kind=kind, scope=scope):
            rows.append(row)
            if progress:
                progress(1)
        splits[kind] = Dataset.from_list(rows, features=features[kind])
    DatasetDict(splits).save_to_disk(str(directory))
    return directory


def export_write(*, directory: Path, scope: ExportScope, kinds: list[str], dataset: bool,
                 progress: Progress | None = None) -> ExportWritten:
    """Write the chosen JSONL exports (``<kind>.jsonl``) and, if asked, the dataset under ``directory/dataset``."""
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown exports {unknown}; choose from {list(KINDS)}")
    directory.mkdir(parents=True, exist_ok=True)
    rows = {kind: jsonl_write(path=directory / f"{kind}.jsonl", kind=kind, scope=scope, progress=progress)
            for kind in kinds}
    written = dataset_write(directory=directory / "dataset", scope=scope, progress=progress) if dataset else None
    return ExportWritten(directory=directory, rows=rows, dataset=written)


def export_total(*, scope: ExportScope, kinds: list[str], dataset: bool) -> int:
    """Rows an export will write (for a progress bar)."""
    total = sum(export_count(kind=k, scope=scope) for k in kinds)
    if dataset:
        total += sum(export_count(kind=k, scope=scope) for k in ("dpo", "ties", "both_bad"))
    return total
