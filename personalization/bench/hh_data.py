"""HH-RLHF relabelled pairs (VPL, Poddar et al. 2024): loading, deterministic splitting and cached features."""

from __future__ import annotations

import gzip
import json
import random
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from personalization.axes import axes_score
from personalization.embedding_cache import encode_cached

OBJECTIVES = ("helpful", "harmless")


@dataclass
class PairSet:
    """Pairs of one file: features of each side and the user type's choice.

    emb_first/emb_second (N, d), axes_first/axes_second (N, A), outcome (N,) in {1, -1}, objective (N,) int index
    into ``OBJECTIVES``.
    """

    emb_first: torch.Tensor
    emb_second: torch.Tensor
    axes_first: torch.Tensor
    axes_second: torch.Tensor
    outcome: torch.Tensor
    objective: torch.Tensor

    def __len__(self) -> int:
        return int(self.outcome.shape[0])

    def subset(self, index: torch.Tensor) -> PairSet:
        return PairSet(
            self.emb_first[index], self.emb_second[index], self.axes_first[index], self.axes_second[index],
            self.outcome[index], self.objective[index],
        )


def rows_read(path: str | Path) -> list[dict[str, object]]:
    if str(path).endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    with open(path, encoding="utf-8") as plain:
        return [json.loads(line) for line in plain if line.strip()]


def rows_split(rows: list[dict[str, object]], seed: int, train_share: float = 0.7) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Deterministic split by pair (each row is one pair): ``train_share`` of rows to train, the rest to test."""
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    cut = round(train_share * len(rows))
    return [rows[i] for i in order[:cut]], [rows[i] for i in order[cut:]]


def pairs_featurize(
    rows: list[dict[str, object]],
    encoder_name: str,
    encoder_factory: object,
    cache_dir: str | Path = "var/cache/embeddings",
) -> PairSet:
    """Embed (with the on-disk cache) and axis-score both responses of every row."""
    prompts: list[str] = []
    responses: list[str] = []
    for row in rows:
        pair = row["responses"]
        assert isinstance(pair, list) and len(pair) == 2
        prompts += [str(row["prompt"])] * 2
        responses += [str(pair[0]), str(pair[1])]
    with tqdm(total=len(responses), desc=f"embed {encoder_name}", unit="text", leave=False) as bar:
        emb = encode_cached(
            encoder_factory,  # type: ignore[arg-type]
            encoder_name, prompts, responses, cache_dir, progress=bar.update,
        )  # (2N, d)
    axes = torch.tensor([axes_score(p, r) for p, r in zip(prompts, responses, strict=True)])  # (2N, A)
    labels = torch.tensor([int(str(row["label"])) for row in rows])
    return PairSet(
        emb_first=emb[0::2], emb_second=emb[1::2], axes_first=axes[0::2], axes_second=axes[1::2],
        outcome=torch.where(labels == 0, 1, -1),
        objective=torch.tensor([OBJECTIVES.index(str(row["objective"])) for row in rows]),
    )


def encoder_factory_for(name: str, device: str = "cpu") -> tuple[str, object]:
    """Map a short encoder option (``minilm``, ``smollm2-mean``, ``smollm2-last``) to (cache name, factory)."""
    if name == "minilm":
        from personalization.encoder import PACKAGED_MINILM, EncoderConfig, SentenceEncoder

        return PACKAGED_MINILM, lambda: SentenceEncoder(EncoderConfig(device=device))
    if name.startswith("smollm2-"):
        from personalization.lm_encoder import LMEncoderConfig, LMHiddenStateEncoder

        config = LMEncoderConfig(pooling=name.split("-", 1)[1], device=device)
        cache_name = f"{config.model_path}#{config.pooling}@{config.layer}"
        return cache_name, lambda: LMHiddenStateEncoder(config)
    raise ValueError(f"unknown encoder {name!r}: minilm, smollm2-mean or smollm2-last")


def lm_views_precompute(
    rows: list[dict[str, object]], cache_dir: str | Path = "var/cache/embeddings", device: str = "cpu",
    max_length: int = 96, prompt_tokens: int = 32,
) -> None:
    """Fill the cache for both ``smollm2-mean`` and ``smollm2-last`` from one forward pass per text."""
    from personalization.embedding_cache import EmbeddingCache, text_key
    from personalization.lm_encoder import POOLINGS, LMEncoderConfig, LMHiddenStateEncoder

    configs = {p: LMEncoderConfig(pooling=p, device=device, max_length=max_length, prompt_tokens=prompt_tokens)
               for p in POOLINGS}
    caches = {p: EmbeddingCache(cache_dir, f"{c.model_path}#{c.pooling}@{c.layer}") for p, c in configs.items()}
    prompts, responses = [], []
    for row in rows:
        pair = row["responses"]
        assert isinstance(pair, list)
        prompts += [str(row["prompt"])] * 2
        responses += [str(pair[0]), str(pair[1])]
    keys = [text_key(p, r) for p, r in zip(prompts, responses, strict=True)]
    todo = sorted({keys[i]: i for i in caches["mean"].missing(keys)}.values())
    if not todo:
        return
    encoder = LMHiddenStateEncoder(configs["mean"])
    for start in tqdm(range(0, len(todo), 64), desc="embed smollm2", unit="chunk"):
        idx = todo[start : start + 64]
        views = encoder.encode_all_poolings([prompts[i] for i in idx], [responses[i] for i in idx])
        for pooling, cache in caches.items():
            cache.put([keys[i] for i in idx], views[(pooling, -1)])
            cache.save()
