"""Generate Tailor's demo candidate pool with the project's own generator (SmolLM2 by default).

Every prompt of the demo library is answered under each contrasting style instruction, each style with its own
length limit and sampling temperature (a 135M model ignores some instructions, e.g. brevity, so the limits do
part of the work). Each answer is scored on the named axes and embedded by the encoder, and the whole pool is
written as one gzipped JSONL file that ``load_demo_data`` imports without loading any model.
"""

from __future__ import annotations

import base64
import gzip
import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

POOL_FORMAT = 1


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def demo_pool_generate(
    *,
    prompts_file: Path,
    out_file: Path,
    generator_path: str,
    encoder_path: str,
    cache_dir: str,
    device: str = "auto",
    limit: int | None = None,
    batch_size: int = 8,
    seed: int = 0,
    retries: int = 4,
    repair_from: Path | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, Any]:
    """Generate, score and embed the pool; return a report of how widely it spreads on the named axes.

    An answer the degenerate-text filter rejects (``personalization.degenerate``: empty, skeleton list, loop,
    instruction leak) is sampled again with another seed, up to ``retries`` times, and left out of the pool if
    it never comes out right, so /vote/ never offers one. ``repair_from``: keep that pool's answers and only
    rewrite its degenerate ones (minutes instead of the whole pool's half hour)."""
    import torch

    from personalization.axes import AXIS_NAMES, axes_score
    from personalization.encoder import EncoderConfig, SentenceEncoder
    from personalization.generation import Generator, GeneratorConfig

    library = json.loads(Path(prompts_file).read_text())
    prompts: list[dict[str, str]] = library["prompts"][:limit] if limit else library["prompts"]
    styles: list[dict[str, Any]] = library["styles"]
    generator = Generator(GeneratorConfig(model_path=generator_path, cache_dir=cache_dir, device=device))
    if repair_from is not None:
        answers = _answers_read(repair_from, prompts)
    else:
        answers = _answers_generate(generator, prompts, styles, batch_size, seed, progress)
    rewritten, dropped = _degenerate_rewrite(generator, prompts, styles, answers, seed, retries)
    del generator

    encoder = SentenceEncoder(EncoderConfig(model_path=encoder_path, device=device))
    keys = sorted(answers)
    embeddings = encoder.encode([prompts[i]["text"] for i, _ in keys], [answers[k] for k in keys])
    by_key = dict(zip(keys, embeddings, strict=True))

    out_file.parent.mkdir(parents=True, exist_ok=True)
    axis_columns: list[list[float]] = [[] for _ in AXIS_NAMES]
    with gzip.open(out_file, "wt", encoding="utf-8") as fh:
        header = {
            "format": POOL_FORMAT, "generator": generator_path, "encoder": encoder_path,
            "axes": list(AXIS_NAMES), "styles": styles, "seed": seed,
        }
        fh.write(json.dumps({"header": header}) + "\n")
        for index, prompt in enumerate(prompts):
            responses = []
            for style in styles:
                if (index, style["name"]) not in answers:
                    continue  # degenerate under every seed tried: no answer beats a broken one
                text = answers[(index, style["name"])]
                scores = axes_score(prompt["text"], text)
                for column, value in zip(axis_columns, scores, strict=True):
                    column.append(value)
                vector = by_key[(index, style["name"])].to(torch.float32).numpy().tobytes()
                responses.append({
                    "style": style["name"], "text": text, "max_new_tokens": style["max_new_tokens"],
                    "temperature": style["temperature"], "axis_scores": scores,
                    "embedding": base64.b64encode(vector).decode("ascii"),
                })
            fh.write(json.dumps({"domain": prompt["domain"], "text": prompt["text"], "responses": responses}) + "\n")
    spread = {
        name: {
            "min": round(min(col), 3), "max": round(max(col), 3),
            "mean": round(statistics.fmean(col), 3), "stdev": round(statistics.pstdev(col), 3),
        }
        for name, col in zip(AXIS_NAMES, axis_columns, strict=True)
    }
    return {"prompts": len(prompts), "responses": len(keys), "degenerate_rewritten": rewritten,
            "degenerate_dropped": dropped, "axis_spread": spread}


def _answers_generate(generator: Any, prompts: list[dict[str, str]], styles: list[dict[str, Any]],
                      batch_size: int, seed: int,
                      progress: Callable[[int, int, str], None] | None) -> dict[tuple[int, str], str]:
    from personalization.generation import SamplingConfig

    answers: dict[tuple[int, str], str] = {}
    total = len(prompts) * len(styles)
    done = 0
    for style in styles:
        for chunk_no, chunk in enumerate(_chunks(list(enumerate(prompts)), batch_size)):
            conversations = [
                [{"role": "system", "content": style["system"]}, {"role": "user", "content": p["text"]}]
                for _, p in chunk
            ]
            sampling = SamplingConfig(
                max_new_tokens=int(style["max_new_tokens"]),
                temperature=float(style["temperature"]),
                seed=seed * 100_003 + chunk_no * 101 + styles.index(style),
            )
            texts = generator.generate(conversations, sampling, prefixes=[style.get("prefix", "")] * len(chunk))
            for (index, _), text in zip(chunk, texts, strict=True):
                answers[(index, style["name"])] = text
            done += len(chunk)
            if progress:
                progress(done, total, f"style {style['name']}")
    return answers


def _answers_read(path: Path, prompts: list[dict[str, str]]) -> dict[tuple[int, str], str]:
    """The answers of an existing pool file, keyed like a fresh run's (prompt index, style name)."""
    index_of = {p["text"]: i for i, p in enumerate(prompts)}
    answers: dict[tuple[int, str], str] = {}
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if "header" in row or row["text"] not in index_of:
                continue
            for response in row["responses"]:
                answers[(index_of[row["text"]], response["style"])] = response["text"]
    return answers


def _degenerate_rewrite(generator: Any, prompts: list[dict[str, str]], styles: list[dict[str, Any]],
                        answers: dict[tuple[int, str], str], seed: int, retries: int) -> tuple[int, int]:
    """Sample degenerate answers again (a new seed each try) and drop those still degenerate after ``retries``.
    Returns (rewritten, dropped)."""
    from personalization.degenerate import degenerate_reason
    from personalization.generation import SamplingConfig

    by_name = {style["name"]: style for style in styles}

    def bad(key: tuple[int, str]) -> bool:
        return degenerate_reason(answers[key], prompt=prompts[key[0]]["text"],
                                 instructions=[by_name[key[1]]["system"]]) is not None

    todo = [key for key in sorted(answers) if bad(key)]
    first = len(todo)
    for attempt in range(1, retries + 1):
        for key in list(todo):
            index, name = key
            style = by_name[name]
            sampling = SamplingConfig(max_new_tokens=int(style["max_new_tokens"]),
                                      temperature=max(float(style["temperature"]), 0.7),
                                      seed=seed * 100_003 + attempt * 7_919 + index * 31 + styles.index(style))
            conversation = [{"role": "system", "content": style["system"]},
                            {"role": "user", "content": prompts[index]["text"]}]
            answers[key] = generator.generate([conversation], sampling, prefixes=[style.get("prefix", "")])[0]
            if not bad(key):
                todo.remove(key)
    for key in todo:
        del answers[key]
    return first - len(todo), len(todo)
