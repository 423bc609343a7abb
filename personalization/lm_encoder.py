"""Encoder option: hidden states of the generator LM (SmolLM2 by default) over prompt + response.

Representation-as-reward-features, as in reward models built on an LM's last hidden state (Ouyang et al. 2022,
"Training language models to follow instructions with human feedback"). Pooling is the mean over the response's
tokens or the hidden state of its last token, from a chosen layer. The response is kept whole (up to
``max_length``) and the prompt fills the remaining room from its end, so the context closest to the answer stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from personalization.devices import device_resolve
from personalization.generation import PACKAGED_SMOLLM2, packaged_smollm2_local

POOLINGS = ("mean", "last")


@dataclass
class LMEncoderConfig:
    """How to build the LM hidden-state encoder.

    model_path: ``packaged:SmolLM2-135M-Instruct`` or any local Hugging Face causal LM directory / hub id.
    pooling: ``mean`` over the response tokens or ``last`` token.
    layer: hidden layer to read (``-1`` = final, after the last norm; negative counts from the end).
    max_length: tokens kept from prompt + response.
    prompt_tokens: at most this many prompt tokens are kept (from the prompt's end).
    batch_size: texts per forward pass.
    cache_dir: where the dequantised packaged model is kept.
    device: ``auto``, ``cpu``, ``cuda``...
    """

    model_path: str = PACKAGED_SMOLLM2
    pooling: str = "mean"
    layer: int = -1
    max_length: int = 96
    prompt_tokens: int = 32
    batch_size: int = 16
    cache_dir: str = "var/models"
    device: str = "auto"


class LMHiddenStateEncoder:
    """L2-normalised pooled hidden states of a causal LM; the same ``encode`` interface as ``SentenceEncoder``."""

    def __init__(self, config: LMEncoderConfig | None = None) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.config = config or LMEncoderConfig()
        if self.config.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.config.pooling!r}")
        self.device = device_resolve(self.config.device)
        path: str | Path = self.config.model_path
        if path == PACKAGED_SMOLLM2:
            path = packaged_smollm2_local(self.config.cache_dir)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).to(self.device).eval()
        self.dim: int = int(self.model.config.hidden_size)
        self.name = f"{self.config.model_path}#{self.config.pooling}@{self.config.layer}"

    def _ids(self, prompt: str, response: str) -> tuple[list[int], int]:
        """Token ids of the chat (prompt tail + response) and the index where the response starts."""
        head = self.tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=True
        )
        head = list(head)[-self.config.prompt_tokens :]
        body = self.tokenizer(response, add_special_tokens=False)["input_ids"][: self.config.max_length - 1]
        head = head[-max(1, self.config.max_length - len(body)) :]
        return head + body, len(head)

    @torch.inference_mode()
    def encode_all_poolings(
        self, prompts: list[str], responses: list[str], layers: tuple[int, ...] = (-1,)
    ) -> dict[tuple[str, int], torch.Tensor]:
        """Every (pooling, layer) view from one forward pass: ``{(pooling, layer): (N, d)}``."""
        items = [self._ids(p, r) for p, r in zip(prompts, responses, strict=True)]
        order = sorted(range(len(items)), key=lambda i: len(items[i][0]))  # similar lengths share a batch
        out = {(p, layer): torch.empty(len(items), self.dim) for p in POOLINGS for layer in layers}
        for start in range(0, len(order), self.config.batch_size):
            idx = order[start : start + self.config.batch_size]
            width = max(len(items[i][0]) for i in idx)
            ids = torch.full((len(idx), width), int(self.tokenizer.pad_token_id or 0), dtype=torch.long)
            mask = torch.zeros(len(idx), width, dtype=torch.long)
            response_mask = torch.zeros(len(idx), width)
            for row, i in enumerate(idx):
                tokens, split = items[i]
                ids[row, : len(tokens)] = torch.tensor(tokens)
                mask[row, : len(tokens)] = 1
                response_mask[row, split : len(tokens)] = 1.0
            outputs = self.model(
                input_ids=ids.to(self.device), attention_mask=mask.to(self.device), output_hidden_states=True
            )
            lengths = mask.sum(1) - 1  # (B,) position of each row's last token
            rm = response_mask.to(self.device).unsqueeze(-1)  # (B, T, 1)
            for layer in layers:
                hidden = outputs.hidden_states[layer].float()  # (B, T, d)
                mean = (hidden * rm).sum(1) / rm.sum(1).clamp(min=1.0)  # (B, d)
                last = hidden[torch.arange(len(idx)), lengths.to(self.device)]  # (B, d)
                for pooling, pooled in (("mean", mean), ("last", last)):
                    out[(pooling, layer)][idx] = torch.nn.functional.normalize(pooled, dim=-1).cpu()
        return out

    def encode(self, prompts: list[str], responses: list[str]) -> torch.Tensor:
        """Return ``(N, d)`` float32 CPU embeddings with the configured pooling and layer."""
        if len(prompts) != len(responses):
            raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
        views = self.encode_all_poolings(prompts, responses, layers=(self.config.layer,))
        return views[(self.config.pooling, self.config.layer)]
