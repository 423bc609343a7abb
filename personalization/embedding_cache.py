"""On-disk cache of embeddings keyed by a hash of (encoder, prompt, response), so reruns skip the encoder.

One safetensors file per encoder under ``directory``: a (N, d) float32 matrix plus the row keys in its metadata.
Writes go to a temporary file renamed into place, so a killed run never leaves a corrupt cache.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import torch
from safetensors import safe_open
from safetensors.torch import save_file


class PairEncoder(Protocol):
    """Anything that embeds (prompt, response) pairs: ``SentenceEncoder``, ``LMHiddenStateEncoder``..."""

    name: str
    dim: int

    def encode(self, prompts: list[str], responses: list[str]) -> torch.Tensor: ...


def text_key(prompt: str, response: str) -> str:
    """Stable key of one (prompt, response) pair."""
    return hashlib.sha1(f"{prompt}\x00{response}".encode()).hexdigest()


class EmbeddingCache:
    """Disk-backed map ``text_key -> (d,) float32`` for one encoder name."""

    def __init__(self, directory: str | Path, encoder_name: str) -> None:
        self.directory = Path(directory)
        self.encoder_name = encoder_name
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", encoder_name).strip("_") or "encoder"
        self.path = self.directory / f"{slug}.safetensors"
        self._rows: dict[str, torch.Tensor] = {}
        if self.path.exists():
            with safe_open(str(self.path), framework="pt") as handle:
                keys = json.loads((handle.metadata() or {}).get("keys", "[]"))
                matrix = handle.get_tensor("vectors")  # (N, d)
            self._rows = dict(zip(keys, matrix, strict=True))

    def __len__(self) -> int:
        return len(self._rows)

    def missing(self, keys: list[str]) -> list[int]:
        return [i for i, k in enumerate(keys) if k not in self._rows]

    def put(self, keys: list[str], vectors: torch.Tensor) -> None:
        for key, vector in zip(keys, vectors, strict=True):
            self._rows[key] = vector.detach().float().cpu()

    def get(self, keys: list[str]) -> torch.Tensor:
        return torch.stack([self._rows[k] for k in keys])  # (N, d)

    def save(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        keys = list(self._rows)
        matrix = torch.stack([self._rows[k] for k in keys]).contiguous() if keys else torch.zeros(0, 1)
        partial = self.path.with_suffix(".partial")
        save_file({"vectors": matrix}, str(partial), metadata={"keys": json.dumps(keys)})
        partial.replace(self.path)
        return self.path


def encode_cached(
    encoder_factory: Callable[[], PairEncoder],
    encoder_name: str,
    prompts: list[str],
    responses: list[str],
    cache_dir: str | Path,
    chunk: int = 256,
    progress: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """(N, d) embeddings, computing (and persisting, chunk by chunk) only the pairs not yet on disk.

    The encoder is built lazily by ``encoder_factory`` so a fully cached run never loads a model.
    """
    cache = EmbeddingCache(cache_dir, encoder_name)
    keys = [text_key(p, r) for p, r in zip(prompts, responses, strict=True)]
    todo = sorted(set(cache.missing(keys)), key=lambda i: keys[i])
    unique: dict[str, int] = {}
    for i in todo:
        unique.setdefault(keys[i], i)
    pending = list(unique.values())
    if pending:
        encoder = encoder_factory()
        for start in range(0, len(pending), chunk):
            idx = pending[start : start + chunk]
            vectors = encoder.encode([prompts[i] for i in idx], [responses[i] for i in idx])  # (B, d)
            cache.put([keys[i] for i in idx], vectors)
            cache.save()
            if progress is not None:
                progress(len(idx))
    return cache.get(keys)
