"""Generation speed: the backend's decoding loop vs raw ``model.generate``, PAD guidance cost, time to first token.

Same model, same prompt, same process; greedy decoding so every variant produces the same tokens (checked).
Variants run interleaved and each figure is the median of ``--repeats`` runs, because the machine is shared.
The model is the app's (``--quantize``, default ``int4-weight`` as the workers run it). Optional rows: the float
model (``--float``), static KV cache, dynamic int8 quantisation of the float model (CPU), ``torch.compile``
(``--compile``), and llama.cpp on the packaged GGUF (skipped unless ``llama_cpp`` is importable; timed
``--repeats`` times, interleaved with the others). Prints a table and writes JSON under benchmarks/results/.

    .venv/bin/python benchmarks/generation_speed.py --tokens 32 --repeats 5 --threads 1 --float --int8
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))

from personalization.generation import Generator, GeneratorConfig, SamplingConfig  # noqa: E402
from personalization.guidance import GuidanceConfig, GuidedDecoder  # noqa: E402
from personalization.summaries import summary_messages  # noqa: E402

MESSAGES = [{"role": "user", "content": "Write a long, detailed story about a dragon who learns to bake bread."}]
SUMMARY = "You prefer short, to-the-point answers rather than long, thorough answers. You prefer a playful touch."


def _raw_generate(gen: Generator, tokens: int) -> Callable[[], list[int]]:
    ids = torch.tensor([gen.prompt_ids(MESSAGES)], device=gen.device)

    @torch.inference_mode()
    def run() -> list[int]:
        out = gen.model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=tokens, do_sample=False,
            temperature=None, top_p=None, top_k=None, pad_token_id=gen.tokenizer.pad_token_id,
        )
        return list(out[0, ids.shape[1] :].tolist())

    return run


def _backend(gen: Generator, tokens: int) -> Callable[[], list[int]]:
    sampling = SamplingConfig(max_new_tokens=tokens, temperature=0.0)
    prompt = gen.prompt_ids(MESSAGES)
    return lambda: [int(t[0]) for t in gen.sample_ids(prompt, 1, sampling)]


def _guided(gen: Generator, tokens: int, batch_passes: bool) -> Callable[[], list[int]]:
    sampling = SamplingConfig(max_new_tokens=tokens, temperature=0.0)
    decoder = GuidedDecoder(gen, GuidanceConfig(beta=1.5, top_k=20, batch_passes=batch_passes))
    return lambda: [int(t[0]) for t in decoder.sample_ids(MESSAGES, SUMMARY, sampling)]


def _first_token_seconds(stream: Callable[[], Any]) -> float:
    start = time.perf_counter()
    iterator = iter(stream())
    next(iterator)
    seconds = time.perf_counter() - start
    iterator.close()
    return seconds


def _measure(variants: dict[str, Callable[[], list[int]]], repeats: int) -> dict[str, dict[str, Any]]:
    """Run the variants interleaved ``repeats`` times; median seconds per token for each."""
    per_token: dict[str, list[float]] = {name: [] for name in variants}
    outputs: dict[str, list[int]] = {}
    warm_up: dict[str, float] = {}
    for name, run in variants.items():  # warm-up (allocator, first-call overheads, compilation)
        start = time.perf_counter()
        outputs[name] = run()
        warm_up[name] = time.perf_counter() - start
    for _ in range(repeats):
        for name, run in variants.items():
            start = time.perf_counter()
            out = run()
            per_token[name].append((time.perf_counter() - start) / max(1, len(out)))
    return {
        name: {"ms_per_token": 1000 * statistics.median(v), "tok_per_s": 1 / statistics.median(v),
               "best_ms_per_token": 1000 * min(v), "tokens": len(outputs[name]), "warm_up_s": warm_up[name],
               "ids": outputs[name]}
        for name, v in per_token.items()
    }


LLAMA_CPP = "llama.cpp (same GGUF)"


def _llama_cpp(tokens: int) -> Callable[[], list[int]] | None:
    """llama.cpp greedy on the packaged Q4_1 GGUF, prompt evaluation included as in the other rows (its own prompt
    cache is cleared each run); None when ``llama-cpp-python`` is absent."""
    if importlib.util.find_spec("llama_cpp") is None:
        return None
    from llama_cpp import Llama

    from personalization.generation import _SMOLLM2_GGUF, packaged_smollm2_dir

    llm = Llama(model_path=str(packaged_smollm2_dir() / _SMOLLM2_GGUF), n_ctx=512, n_threads=torch.get_num_threads(),
                n_threads_batch=torch.get_num_threads(), verbose=False)

    def run() -> list[int]:
        llm.reset()
        out = llm.create_chat_completion(messages=MESSAGES, max_tokens=tokens, temperature=0.0)
        return [0] * int(out["usage"]["completion_tokens"])  # the count is what the timing needs

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads; 1 is fastest on a busy 2-core host (2 threads spin-wait)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quantize", default="int4-weight", help="the backend's weights (GeneratorConfig.quantize)")
    parser.add_argument("--float", action="store_true", help="also time the float (unquantised) model")
    parser.add_argument("--int8", action="store_true", help="also time dynamic int8 quantisation (CPU)")
    parser.add_argument("--static", action="store_true", help="also time the static KV cache")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile)")
    parser.add_argument("--json", type=Path, default=RESULTS / "generation_speed.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()[0]

    gen = Generator(GeneratorConfig(device=args.device, quantize=args.quantize))
    floating = (Generator(GeneratorConfig(device=args.device)) if args.float or args.int8 or args.compile
                or args.static else gen)
    tokens = args.tokens
    variants: dict[str, Callable[[], list[int]]] = {
        "raw model.generate": _raw_generate(gen, tokens),
        "backend (sample_ids)": _backend(gen, tokens),
        "guided PAD, one batched forward": _guided(gen, tokens, batch_passes=True),
        "guided PAD, two forwards": _guided(gen, tokens, batch_passes=False),
    }
    if args.float:
        variants["backend, float weights"] = _backend(floating, tokens)
    if args.static:
        static = Generator.from_model(floating.model, gen.tokenizer,
                                      GeneratorConfig(device=args.device, kv_cache="static"))
        variants["backend, float, static KV cache"] = _backend(static, tokens)
    if args.int8:
        int8 = Generator.from_model(floating.model, gen.tokenizer,  # quantize_dynamic quantises a copy
                                    GeneratorConfig(device=args.device, quantize="int8"))
        variants["backend, int8 dynamic quantisation"] = _backend(int8, tokens)
    if args.compile:
        # Best case for compile: static cache and one prompt, so the graph compiled in the warm-up is reused.
        # A worker would recompile for every new prompt length / batch size unless cache lengths are bucketed.
        import copy

        twin = copy.deepcopy(floating.model)
        twin.forward = torch.compile(twin.forward, dynamic=False)
        compiled = Generator.from_model(twin, gen.tokenizer, GeneratorConfig(device=args.device, kv_cache="static"))
        variants["backend, float, static cache + torch.compile"] = _backend(compiled, tokens)
    llama = _llama_cpp(tokens)
    if llama is not None:
        variants[LLAMA_CPP] = llama
    rows = _measure(variants, args.repeats)

    plain = rows["backend (sample_ids)"]
    ref_ids = rows["raw model.generate"]["ids"]
    sampling = SamplingConfig(max_new_tokens=tokens, temperature=0.0)
    decoder = GuidedDecoder(gen, GuidanceConfig(beta=1.5, top_k=20))
    ttft = {
        "stream": statistics.median(_first_token_seconds(lambda: gen.stream(MESSAGES, sampling)) for _ in range(3)),
        "guided stream": statistics.median(
            _first_token_seconds(lambda: decoder.stream(MESSAGES, SUMMARY, sampling)) for _ in range(3)
        ),
    }
    conditioned_prompt = len(gen.prompt_ids(summary_messages(MESSAGES, SUMMARY)))
    result: dict[str, Any] = {
        "model": gen.config.model_path, "device": str(gen.device), "threads": args.threads,
        "torch": torch.__version__, "python": platform.python_version(), "new_tokens": tokens,
        "prompt_tokens": len(gen.prompt_ids(MESSAGES)), "conditioned_prompt_tokens": conditioned_prompt,
        "repeats": args.repeats,
        "rows": {name: {k: v for k, v in row.items() if k != "ids"} for name, row in rows.items()},
        "load_average_1m_at_start": load_start, "load_average_1m_at_end": os.getloadavg()[0],
        "backend_vs_raw_speed": plain["tok_per_s"] / rows["raw model.generate"]["tok_per_s"],
        "backend_vs_raw_speed_best_of_repeats": (
            rows["raw model.generate"]["best_ms_per_token"] / plain["best_ms_per_token"]
        ),
        "backend_tokens_equal_raw": plain["ids"] == ref_ids,
        "guided_cost_per_token": {
            "one batched forward": rows["guided PAD, one batched forward"]["ms_per_token"] / plain["ms_per_token"],
            "two forwards": rows["guided PAD, two forwards"]["ms_per_token"] / plain["ms_per_token"],
        },
        "guided_cost_per_token_best_of_repeats": {
            "one batched forward": (
                rows["guided PAD, one batched forward"]["best_ms_per_token"] / plain["best_ms_per_token"]
            ),
            "two forwards": rows["guided PAD, two forwards"]["best_ms_per_token"] / plain["best_ms_per_token"],
        },
        "time_to_first_token_s": ttft,
        "quantize": args.quantize,
        "llama_cpp": ({k: v for k, v in rows[LLAMA_CPP].items() if k != "ids"} | {"note": "Q4_1 GGUF"}
                      if llama is not None else
                      {"skipped": "llama-cpp-python is not installed (it compiles for ~9 min); comparison skipped"}),
    }
    float_ids = rows["backend, float weights"]["ids"] if args.float else None
    for name, row in rows.items():
        if name.startswith("backend") and float_ids is not None:
            same = 0
            for a, b in zip(row["ids"], float_ids, strict=False):
                if a != b:
                    break
                same += 1
            result["rows"][name]["tokens_equal_to_float_greedy_before_divergence"] = same
    llama_speed = result["llama_cpp"].get("tok_per_s")
    if llama_speed:  # what a CPU user would compare against (target >= 0.5x), one ratio per backend variant
        result["vs_llama_cpp"] = {name: row["tok_per_s"] / llama_speed for name, row in rows.items()
                                  if name.startswith("backend")}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")

    print(f"{'variant':38} {'tok/s':>7} {'ms/tok':>7} {'best':>7} {'tokens':>6} {'warm-up s':>9}")
    for name, row in result["rows"].items():
        print(f"{name:38} {row['tok_per_s']:7.1f} {row['ms_per_token']:7.1f} {row['best_ms_per_token']:7.1f} "
              f"{row['tokens']:6d} {row['warm_up_s']:9.1f}")
    print(f"backend / raw model.generate speed: {result['backend_vs_raw_speed']:.3f}x median, "
          f"{result['backend_vs_raw_speed_best_of_repeats']:.3f}x best-of-repeats (target >= 0.95), "
          f"same tokens: {result['backend_tokens_equal_raw']}")
    print(f"host load average (1 min): {load_start:.1f} at start, {result['load_average_1m_at_end']:.1f} at end")
    for name, ratio in result["guided_cost_per_token"].items():
        best = result["guided_cost_per_token_best_of_repeats"][name]
        print(f"guided cost per token, {name}: {ratio:.2f}x plain median, {best:.2f}x best (target <= 2.2)")
    print(f"time to first token: stream {ttft['stream'] * 1000:.0f} ms, guided {ttft['guided stream'] * 1000:.0f} ms")
    llama = result["llama_cpp"]
    speed = llama.get("skipped") or "{:.1f} tok/s".format(llama["tok_per_s"])
    print(f"llama.cpp: {speed}")
    for name, ratio in result.get("vs_llama_cpp", {}).items():
        print(f"{name} / llama.cpp: {ratio:.2f}x (target >= 0.5)")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
