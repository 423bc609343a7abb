"""Candidate pools for new prompts: answers under each style instruction, features computed once, progress pushed.

A prompt typed by a user gets the same treatment as the demo library (one answer per style, each with its own
length limit and temperature), so it becomes votable on /vote/ and its answers carry features for every refit.
"""

from __future__ import annotations

import logging

from personalization.generation import SamplingConfig
from webapp.catalog.models import Prompt, Response
from webapp.live import group_send
from workers.compare import MAX_NEW_TOKENS, candidate_styles, generator_get
from workers.config import worker_config
from workers.features import responses_with_features

log = logging.getLogger(__name__)


def _progress(prompt_id: int, done: int, total: int) -> None:
    group_send(f"prompt.{prompt_id}", {
        "type": "pool.progress", "prompt_id": prompt_id, "done": done, "total": total})


def pool_generate_run(*, prompt_id: int, max_styles: int | None = None, max_new_tokens: int | None = None) -> int:
    """Write the missing styled answers of one prompt (idempotent: styles already present are skipped)."""
    prompt = Prompt.objects.filter(pk=prompt_id).first()
    if prompt is None:
        return 0
    styles = candidate_styles()[:max_styles] if max_styles else candidate_styles()
    present = set(Response.objects.filter(prompt=prompt).values_list("style", flat=True))
    todo = [s for s in styles if s.name not in present]
    total, done = len(styles), len(styles) - len(todo)
    _progress(prompt_id, done, total)
    if not todo:
        return 0
    config = worker_config()
    generator = generator_get(config.generator, config.model_cache_dir, config.device, config.generator_quantize)
    for index, style in enumerate(todo):
        sampling = SamplingConfig(max_new_tokens=max_new_tokens or style.max_new_tokens or MAX_NEW_TOKENS,
                                  temperature=style.temperature, seed=prompt_id * 31 + index)
        conversation = [{"role": "system", "content": style.system}, {"role": "user", "content": prompt.text}]
        text = generator.generate([conversation], sampling, prefixes=[style.prefix])[0]
        responses_with_features(prompt=prompt, answers=[(text, style.name)])
        done += 1
        _progress(prompt_id, done, total)
    log.info("pool for prompt %s: %d new answers", prompt_id, len(todo))
    return len(todo)
