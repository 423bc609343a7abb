from __future__ import annotations

from pathlib import Path

import torch

from personalization.embedding_cache import EmbeddingCache, encode_cached, text_key


class CountingEncoder:
    name = "counting"
    dim = 3

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, prompts: list[str], responses: list[str]) -> torch.Tensor:
        self.calls += len(prompts)
        return torch.tensor([[len(p), len(r), 1.0] for p, r in zip(prompts, responses, strict=True)])


def test_second_run_reads_everything_from_disk(tmp_path: Path) -> None:
    encoder = CountingEncoder()
    first = encode_cached(lambda: encoder, "counting", ["a", "bb"], ["x", "yy"], tmp_path)
    assert encoder.calls == 2

    def never() -> CountingEncoder:
        raise AssertionError("a fully cached run must not build the encoder")

    second = encode_cached(never, "counting", ["bb", "a"], ["yy", "x"], tmp_path)
    assert torch.equal(second, first.flip(0))


def test_duplicate_texts_are_encoded_once(tmp_path: Path) -> None:
    encoder = CountingEncoder()
    out = encode_cached(lambda: encoder, "counting", ["p", "p", "q"], ["r", "r", "s"], tmp_path)
    assert encoder.calls == 2 and out.shape == (3, 3)


def test_caches_of_different_encoders_do_not_mix(tmp_path: Path) -> None:
    a = EmbeddingCache(tmp_path, "enc/a")
    a.put([text_key("p", "r")], torch.ones(1, 2))
    a.save()
    assert len(EmbeddingCache(tmp_path, "enc/a")) == 1
    assert len(EmbeddingCache(tmp_path, "enc/b")) == 0
