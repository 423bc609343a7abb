"""Degenerate text: what a small model writes that must never reach a person.

The packaged 135M model, sampled under style instructions, writes a few kinds of text that are not answers (all
seen in the project's own candidate pool, ``webapp/catalog/demo/pool.jsonl.gz``, and on the demo projector):

- **empty or near-empty**: a title, a slogan or the question asked back ("Why do cats purr, and why do they purr?");
- **skeletons**: numbered lists with nothing in them ("1. 1.1 2. 2.1 … 20.1", "1. 1. * 2. 2. …");
- **loops**: one phrase over and over ("high-quality, high-quality, …", "The best way to celebrate is to
  celebrate." twelve times);
- **instruction leaks**: the answer talks about its instructions ("The user's preference is that you should …")
  or copies a run of words from them.

``degenerate_reason`` names the first problem found, or returns ``None`` for text that may be shown. The measures
are cheap (no model), so every candidate, reveal and best-of-N pick can be checked. Loops are measured as in
Welleck et al. (2019, "Neural text generation with unlikelihood training"): seq-rep-n, the share of a text's
n-grams that repeat an earlier one.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_LETTER_WORD = re.compile(r"[^\W\d_]{2,}")
_LIST_MARK = re.compile(r"^\s*(?:[-*•]\s*|\(?\d+(?:\.\d+)*[.):]?\s*|[a-zA-Z][.)]\s+)+")
_LEAK = re.compile(
    r"\b(?:the user(?:'s)?(?: preferences?| prefers| wants| asked| specifies)?|user'?s preferences?"
    r"|system (?:prompt|message)|my instructions?|the instructions? (?:above|given|say)|as instructed"
    r"|(?:written|answer) (?:for|in) the style|preference summary)\b",
    re.IGNORECASE,
)


class Degenerate(StrEnum):
    """Why a text is not shown (``degenerate_reason``)."""

    EMPTY = "empty"
    TOO_SHORT = "too short"
    SKELETON = "list without content"
    LOOP = "repeats itself"
    LEAK = "talks about its instructions"


@dataclass(frozen=True)
class DegenerateConfig:
    """Thresholds, chosen on the packaged model's pool (``tests/personalization/test_degenerate.py`` holds the
    real outputs they separate)."""

    #: fewer words than this is not an answer (the pool's shortest good "concise" answers have 17)
    min_words: int = 12
    #: seq-rep-4 at or above this is a loop (good answers of the pool: at most 0.44; loops: 0.52 and up)
    max_seq_rep: float = 0.5
    #: the same line (numbering stripped) this many times is a loop
    max_line_repeats: int = 4
    #: a list whose items are mostly empty or numbers only: share of such items at or above this
    skeleton_share: float = 0.5
    #: this many consecutive words copied from the instructions is a leak
    leak_run: int = 6


DEFAULT = DegenerateConfig()


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def seq_rep(words: Sequence[str], n: int = 4) -> float:
    """Share of the n-grams of ``words`` that repeat an earlier n-gram (0: none; near 1: one phrase looped)."""
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _items(text: str) -> list[str]:
    """List items: lines, or the parts of one line split at inline numbering ("1. a 2. b")."""
    lines = _lines(text)
    if len(lines) <= 2:
        parts = re.split(r"(?:(?<=\s)|^)(?=\d+\.\s)", text.strip())
        lines = [p.strip() for p in parts if p.strip()]
    return lines


def _is_skeleton(text: str, config: DegenerateConfig) -> bool:
    items = [item for item in _items(text) if _LIST_MARK.match(item)]
    if len(items) < 3:
        return False
    empty = sum(1 for item in items if len(_LETTER_WORD.findall(_LIST_MARK.sub("", item))) < 1)
    return empty / len(items) >= config.skeleton_share


def _line_loop(text: str, config: DegenerateConfig) -> bool:
    lines = [_LIST_MARK.sub("", line).strip(" .:*").lower() for line in _lines(text)]
    counts = Counter(line for line in lines if _LETTER_WORD.search(line))
    return bool(counts) and max(counts.values()) >= config.max_line_repeats


def _copies_instructions(
    words: Sequence[str], instructions: Iterable[str], prompt_words: set[tuple[str, ...]], run: int
) -> bool:
    """True when a run of ``run`` words of the answer comes from an instruction and not from the prompt (an
    answer may repeat the question; it may not recite its system message or the user's summary)."""
    answer_grams = {tuple(words[i : i + run]) for i in range(len(words) - run + 1)}
    for instruction in instructions:
        iw = _words(instruction)
        grams = {tuple(iw[i : i + run]) for i in range(len(iw) - run + 1)}
        if (answer_grams & grams) - prompt_words:
            return True
    return False


def degenerate_reason(
    text: str, *, prompt: str = "", instructions: Iterable[str] = (), config: DegenerateConfig = DEFAULT
) -> Degenerate | None:
    """Why ``text`` must not be shown as an answer to ``prompt``, or ``None`` when it may.

    ``instructions`` are the texts the generator was conditioned on and the reader must not see (a style's system
    message, a user's preference summary)."""
    words = _words(text)
    letter_words = [w for w in words if any(c.isalpha() for c in w)]
    if not _LETTER_WORD.search(text):
        return Degenerate.EMPTY
    if _is_skeleton(text, config):
        return Degenerate.SKELETON
    if len(letter_words) < config.min_words:
        return Degenerate.TOO_SHORT
    if seq_rep(words) >= config.max_seq_rep or _line_loop(text, config):
        return Degenerate.LOOP
    if _LEAK.search(text) and not _LEAK.search(prompt):
        return Degenerate.LEAK
    pw = _words(prompt)
    prompt_grams = {tuple(pw[i : i + config.leak_run]) for i in range(len(pw) - config.leak_run + 1)}
    if _copies_instructions(words, instructions, prompt_grams, config.leak_run):
        return Degenerate.LEAK
    return None


def is_degenerate(
    text: str, *, prompt: str = "", instructions: Iterable[str] = (), config: DegenerateConfig = DEFAULT
) -> bool:
    """``degenerate_reason(...) is not None``."""
    return degenerate_reason(text, prompt=prompt, instructions=instructions, config=config) is not None


def clean_indices(
    texts: Sequence[str],
    *,
    prompt: str = "",
    instructions: Iterable[str] = (),
    config: DegenerateConfig = DEFAULT,
) -> list[int]:
    """Indices of the texts that may be shown, in order (for best-of-N: rank only these)."""
    kept = list(instructions)
    return [
        i
        for i, text in enumerate(texts)
        if degenerate_reason(text, prompt=prompt, instructions=kept, config=config) is None
    ]
