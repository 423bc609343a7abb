"""Named, interpretable base reward axes (the interpretable half of the PReF/LoRe base reward bank).

Each axis is a documented scorer ``(prompt, response) -> float`` built from surface statistics of the text, so
that a user's weight on it can be read as plain language ("prefers shorter answers"). Scores are roughly on a
0..1 scale; the bank standardises them across the response pool before they become features.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

_WORD = re.compile(r"[A-Za-z']+")
_SENTENCE_END = re.compile(r"[.!?]+(?:\s|$)")
_LIST_LINE = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+", re.MULTILINE)
_HEADING = re.compile(r"^\s*(?:#{1,6}\s|\*\*[^*]+\*\*\s*:?\s*$)", re.MULTILINE)
_CODE = re.compile(r"```|`[^`]+`")
_EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf]")

_CONTRACTIONS = re.compile(r"\b\w+'(?:s|re|ve|ll|d|t|m)\b", re.IGNORECASE)
_CASUAL = frozenset(
    "hey hi yeah yep nope gonna wanna kinda sorta cool awesome stuff okay ok lol btw guys super totally".split()
)
_FORMAL = frozenset(
    "therefore furthermore moreover consequently regarding accordingly thus hence however additionally "
    "subsequently nevertheless whereas shall ensure utilize appropriate respectively".split()
)
_WARM = frozenset(
    "glad happy hope enjoy love wonderful great welcome sorry understand feel care kind thanks thank "
    "appreciate lovely delighted excited friend together support".split()
)
_HUMOUR = frozenset(
    "haha funny joke pun laugh hilarious silly ridiculous imagine kidding lol chuckle giggle".split()
)
_CAUTION = frozenset(
    "careful caution consult professional doctor safety safe risk risks warning avoid unsafe "
    "dangerous harmful recommend advice legal emergency seek".split()
)
_HEDGES = frozenset(
    "might may perhaps possibly probably seems likely unlikely maybe could somewhat generally "
    "typically often sometimes unclear depends".split()
)
_BOOSTERS = frozenset(
    "definitely certainly always never clearly obviously absolutely must undoubtedly guaranteed "
    "exactly surely best".split()
)


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _rate(words: list[str], lexicon: frozenset[str], scale: float) -> float:
    """Lexicon hits per word, squashed to 0..1 (``scale`` hits per 100 words ≈ 0.63)."""
    if not words:
        return 0.0
    per_hundred = 100.0 * sum(1 for w in words if w in lexicon) / len(words)
    return 1.0 - math.exp(-per_hundred / scale)


def brevity(prompt: str, response: str) -> float:
    """1 for a one-liner, falling towards 0 as the answer grows (half-life about 120 words)."""
    return math.exp(-len(_words(response)) / 175.0)


def structure(prompt: str, response: str) -> float:
    """Share of lines that are list items or headings, plus a bonus for code blocks; 0 for plain prose."""
    lines = [ln for ln in response.splitlines() if ln.strip()]
    if not lines:
        return 0.0
    structured = len(_LIST_LINE.findall(response)) + len(_HEADING.findall(response))
    code = 0.25 if _CODE.search(response) else 0.0
    return min(1.0, structured / len(lines) + code)


def formality(prompt: str, response: str) -> float:
    """Formal connectives and long words up, contractions, casual words, '!' and emoji down; 0.5 is neutral."""
    words = _words(response)
    if not words:
        return 0.5
    long_words = sum(1 for w in words if len(w) >= 9) / len(words)
    formal = _rate(words, _FORMAL, 1.5)
    casual = _rate(words, _CASUAL, 1.5)
    contractions = len(_CONTRACTIONS.findall(response)) / len(words)
    exclaim = min(1.0, response.count("!") / 3.0)
    emoji = min(1.0, len(_EMOJI.findall(response)) / 2.0)
    raw = 2.0 * long_words + formal - casual - 4.0 * contractions - 0.3 * exclaim - 0.3 * emoji
    return 1.0 / (1.0 + math.exp(-3.0 * raw))


def warmth(prompt: str, response: str) -> float:
    """Friendly, empathetic wording: warm words, second person, exclamation marks."""
    words = _words(response)
    if not words:
        return 0.0
    you = sum(1 for w in words if w in {"you", "your", "you're", "yours"}) / len(words)
    exclaim = min(1.0, response.count("!") / 4.0)
    return min(1.0, 0.6 * _rate(words, _WARM, 2.0) + 2.0 * you + 0.2 * exclaim)


def humour(prompt: str, response: str) -> float:
    """Jokes and playfulness: humour words, emoji, 'haha', wordplay markers."""
    words = _words(response)
    if not words:
        return 0.0
    emoji = min(1.0, len(_EMOJI.findall(response)) / 2.0)
    return min(1.0, _rate(words, _HUMOUR, 1.0) + 0.3 * emoji)


def technical_depth(prompt: str, response: str) -> float:
    """Density of technical material: numbers, code, long words and parentheticals."""
    words = _words(response)
    if not words:
        return 0.0
    numbers = len(re.findall(r"\d+(?:\.\d+)?", response)) / max(1, len(words))
    long_words = sum(1 for w in words if len(w) >= 10) / len(words)
    code = 0.3 if _CODE.search(response) else 0.0
    parens = min(1.0, response.count("(") / 4.0)
    return min(1.0, 4.0 * numbers + 4.0 * long_words + code + 0.2 * parens)


def caution(prompt: str, response: str) -> float:
    """Safety framing, warnings, referrals to professionals and refusals."""
    return _rate(_words(response), _CAUTION, 1.5)


def confidence(prompt: str, response: str) -> float:
    """Assertive tone: boosters up, hedges down; 0.5 is neutral."""
    words = _words(response)
    if not words:
        return 0.5
    raw = _rate(words, _BOOSTERS, 1.0) - _rate(words, _HEDGES, 1.0)
    return 0.5 + 0.5 * raw


@dataclass(frozen=True)
class Axis:
    """A named axis: ``name`` is stable (stored in profiles), ``high``/``low`` read as plain language."""

    name: str
    scorer: Callable[[str, str], float]
    high: str
    low: str


AXES: tuple[Axis, ...] = (
    Axis("brevity", brevity, "short, to-the-point answers", "long, thorough answers"),
    Axis("structure", structure, "lists, headings and steps", "flowing prose"),
    Axis("formality", formality, "a formal, professional tone", "a casual, conversational tone"),
    Axis("warmth", warmth, "a warm, friendly voice", "a neutral, matter-of-fact voice"),
    Axis("humour", humour, "a playful, humorous touch", "a serious tone"),
    Axis("technical_depth", technical_depth, "technical detail and specifics", "plain, non-technical language"),
    Axis("caution", caution, "safety caveats and careful framing", "direct answers without caveats"),
    Axis("confidence", confidence, "confident, assertive answers", "hedged, tentative answers"),
)
AXIS_NAMES: tuple[str, ...] = tuple(axis.name for axis in AXES)


def axes_score(prompt: str, response: str) -> list[float]:
    """Score one response on every named axis, in ``AXIS_NAMES`` order."""
    return [float(axis.scorer(prompt, response)) for axis in AXES]
