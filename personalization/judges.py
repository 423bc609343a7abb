"""Independent judges for the simulated-users protocol (PersonalLLM, Zollo et al. 2024: users as Dirichlet mixtures
of reward models). The model never sees these as features: they come from other tools (textstat, VADER) or count
other things than the named axes, so a method has to learn them from votes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from functools import lru_cache

import textstat
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

_HEDGING = (
    "i think", "i believe", "it seems", "perhaps", "possibly", "might", "may be", "could be", "not sure",
    "it depends", "in some cases", "arguably", "to some extent", "likely", "generally", "usually",
)
_LIST_ITEM = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+\S", re.MULTILINE)


@lru_cache(maxsize=1)
def _vader() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def readability(response: str) -> float:
    """Ease of reading from textstat's Coleman–Liau grade (letters and sentences per 100 words; it needs no
    pronunciation dictionary): 1 for grade ≤ 0, falling linearly to 0 at grade 20."""
    if not any(ch.isalpha() for ch in response):
        return 0.0
    grade = float(textstat.coleman_liau_index(response))
    return min(1.0, max(0.0, 1.0 - grade / 20.0))


def sentiment(response: str) -> float:
    """VADER compound sentiment in −1..1 (Hutto & Gilbert 2014)."""
    return float(_vader().polarity_scores(response)["compound"])


def length(response: str) -> float:
    """log(1 + number of whitespace-separated tokens)."""
    return math.log1p(len(response.split()))


def list_structure(response: str) -> float:
    """Number of list items (bulleted or numbered lines), squashed: 1 − exp(−items / 3)."""
    return 1.0 - math.exp(-len(_LIST_ITEM.findall(response)) / 3.0)


def question_count(response: str) -> float:
    """Number of question marks (questions back to the user, rhetorical questions), capped at 5."""
    return float(min(5, response.count("?")))


def hedging(response: str) -> float:
    """Hedging phrases per 100 words (a lexicon distinct from the confidence axis's)."""
    lowered = f" {response.lower()} "
    words = max(1, len(response.split()))
    return 100.0 * sum(lowered.count(f" {h} ") for h in _HEDGING) / words


JUDGES: tuple[tuple[str, Callable[[str], float]], ...] = (
    ("readability", readability),
    ("sentiment", sentiment),
    ("length", length),
    ("list_structure", list_structure),
    ("question_count", question_count),
    ("hedging", hedging),
)
JUDGE_NAMES: tuple[str, ...] = tuple(name for name, _ in JUDGES)


def judges_score(response: str) -> list[float]:
    """Raw score of one response by every judge, in ``JUDGE_NAMES`` order."""
    return [float(judge(response)) for _, judge in JUDGES]
