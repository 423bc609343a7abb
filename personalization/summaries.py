"""Preference summaries (POPI): short plain-language texts grounded in a user's reward weights.

Li et al. 2025, "POPI: Personalizing LLMs via Optimized Natural Language Preference Inference": a preference
summary is the interface between a learned user model and any generator. Here the summary is first written from
the weights (deterministic, never wrong about a direction), optionally rewritten by an LLM and kept only if it
still reads back to the same directions, edited by the user, and mapped back onto the axes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from personalization.axes import AXES, Axis

if TYPE_CHECKING:
    from personalization.generation import Generator

_AXIS_BY_NAME: dict[str, Axis] = {axis.name: axis for axis in AXES}

# Extra words that name each pole, beyond the axis' own ``high``/``low`` phrases (lower case, longest wins).
_SYNONYMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "brevity": (
        ("short", "shorter", "brief", "briefer", "concise", "succinct", "to the point", "to-the-point", "terse",
         "one-liner", "one-liners", "quick answers", "compact", "keep it short"),
        ("long", "longer", "lengthy", "thorough", "in-depth", "comprehensive", "elaborate", "verbose",
         "exhaustive", "extensive", "detailed explanations", "long-winded"),
    ),
    "structure": (
        ("list", "lists", "bullet", "bullets", "bullet points", "bulleted", "headings", "headers", "steps",
         "step-by-step", "step by step", "numbered", "structured", "tables", "sections"),
        ("prose", "flowing prose", "paragraphs", "paragraph", "narrative", "flowing"),
    ),
    "formality": (
        ("formal", "more formal", "professional", "polished", "businesslike", "polite"),
        ("casual", "conversational", "informal", "relaxed", "chatty", "laid-back", "laid back", "colloquial",
         "slang"),
    ),
    "warmth": (
        ("warm", "warmer", "friendly", "friendlier", "empathetic", "kind", "encouraging", "caring", "supportive",
         "compassionate", "gentle"),
        ("neutral", "matter-of-fact", "matter of fact", "detached", "impersonal", "cold", "clinical", "dry"),
    ),
    "humour": (
        ("humour", "humor", "humorous", "funny", "jokes", "joke", "joking", "playful", "witty", "wit", "puns",
         "pun", "jokey", "lighthearted", "light-hearted", "silly", "emoji", "emojis"),
        ("serious", "no-nonsense", "earnest", "sober", "solemn"),
    ),
    "technical_depth": (
        ("technical", "technical detail", "specifics", "specific", "jargon", "precise", "precision", "numbers",
         "code", "rigorous", "expert-level", "in technical depth", "advanced"),
        ("non-technical", "plain language", "plain", "simple", "simpler", "layman", "layman's terms",
         "jargon-free", "everyday language", "easy to understand", "beginner-friendly", "eli5"),
    ),
    "caution": (
        ("caveats", "caveat", "safety", "careful", "cautious", "caution", "warnings", "warning", "disclaimers",
         "disclaimer", "careful framing", "safety caveats"),
        ("direct", "straightforward", "blunt", "without caveats", "no caveats", "no disclaimers",
         "direct answers without caveats", "straight answers"),
    ),
    "confidence": (
        ("confident", "assertive", "decisive", "definitive", "certain", "sure", "authoritative"),
        ("hedged", "hedging", "tentative", "uncertain", "humble", "cautious wording", "qualified"),
    ),
}

# A negation flips the matches after it until the next comma; a contrast cue ("prefer A rather than B",
# "A over B", "A instead of B") flips everything after it in the clause, commas included.
_NEGATIONS = frozenset(
    "not no never without avoid avoids avoiding don't dont doesn't won't can't cannot hate hates dislike dislikes "
    "less fewer stop skip drop none nor neither against minus".split()
)
_CONTRASTS = frozenset("rather instead over than versus vs unlike".split())
_MILD = frozenset("slightly somewhat bit little mildly maybe marginally".split())
_STRONG = frozenset("very really strongly much extremely definitely always super highly".split())
_CLAUSE = re.compile(r"[.;!?\n]+|,?\s+\b(?:but|however|although|though|whereas|while|and|also|plus)\b\s*", re.I)
_TOKEN = re.compile(r"[a-z0-9]+(?:['’-][a-z0-9]+)*|,")
_QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”")

# Worded so that no confidence label is itself an axis keyword.
_CONFIDENCE_WORDS = ((3.0, "strong evidence"), (1.5, "moderate evidence"), (0.0, "early signal"))


@dataclass(frozen=True)
class AxisStatement:
    """One line of a summary: the axis, the preferred pole (+1 high, -1 low), weight and confidence."""

    axis: str
    direction: int
    weight: float
    z: float  # |weight| / posterior stddev
    phrase: str  # the preferred pole's plain-language phrase
    contrast: str  # the other pole's phrase
    confidence: str  # "strong evidence", "moderate evidence" or "early signal"


@dataclass(frozen=True)
class ExamplePair:
    """A pair the user voted on: ``chosen`` beat ``rejected`` for ``prompt``."""

    prompt: str
    chosen: str
    rejected: str


@dataclass
class Summary:
    """A preference summary: ``text`` to show and condition on; ``statements`` it was grounded in.

    source: ``grounded`` (written from the weights), ``llm`` (a checked rewrite) or ``edited`` (by the user).
    """

    text: str
    statements: list[AxisStatement] = field(default_factory=list)
    example: ExamplePair | None = None
    source: str = "grounded"


def _confidence_word(z: float) -> str:
    return next(word for bound, word in _CONFIDENCE_WORDS if z >= bound)


def _snippet(text: str, limit: int = 90) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def summary_from_weights(
    names: Sequence[str],
    weights: Sequence[float] | np.ndarray,
    stddevs: Sequence[float] | np.ndarray,
    example: ExamplePair | None = None,
    max_axes: int = 3,
    min_weight: float = 0.05,
) -> Summary:
    """Write the grounded summary: the ``max_axes`` strongest named axes with direction and confidence.

    Axes are ranked by ``|weight|``; latent bases (no plain-language meaning) and weights under ``min_weight``
    are left out. ``stddevs`` (the Laplace posterior's, e.g. ``sqrt(diag(covariance_))``) set the confidence
    word. Deterministic: the same inputs always give the same text.
    """
    w = np.asarray(weights, dtype=float)  # (K,)
    sd = np.asarray(stddevs, dtype=float)  # (K,)
    if not len(names) == w.shape[0] == sd.shape[0]:
        raise ValueError("names, weights and stddevs must have the same length")
    named = [i for i, name in enumerate(names) if name in _AXIS_BY_NAME and abs(w[i]) >= min_weight]
    named.sort(key=lambda i: (-abs(w[i]), names[i]))
    statements = []
    for i in named[:max_axes]:
        axis = _AXIS_BY_NAME[names[i]]
        direction = 1 if w[i] > 0 else -1
        z = float(abs(w[i]) / max(sd[i], 1e-9))
        statements.append(
            AxisStatement(
                axis=axis.name,
                direction=direction,
                weight=float(w[i]),
                z=z,
                phrase=axis.high if direction > 0 else axis.low,
                contrast=axis.low if direction > 0 else axis.high,
                confidence=_confidence_word(z),
            )
        )
    return Summary(text=_grounded_text(statements, example), statements=statements, example=example)


def _grounded_text(statements: list[AxisStatement], example: ExamplePair | None) -> str:
    if not statements:
        return "No clear preferences yet: keep voting and this summary will fill in."
    lines = [
        f"You prefer {s.phrase} rather than {s.contrast} ({s.confidence})." for s in statements
    ]
    if example is not None:
        lines.append(
            f'For example, for "{_snippet(example.prompt, 60)}" you chose "{_snippet(example.chosen)}" '
            f'over "{_snippet(example.rejected)}".'
        )
    return " ".join(lines)


def summary_system_prompt(summary: Summary | str) -> str:
    """The system prompt that conditions any generator on a summary (summary-conditioned generation)."""
    text = summary.text if isinstance(summary, Summary) else summary
    # The example pair helps a reader but distracts a small model; condition on the preference lines only.
    lines = text.split(" For example,")[0].strip()
    return (
        "You are a helpful assistant. Answer in the style this user prefers. "
        f"The user's preferences: {lines} Follow these preferences closely."
    )


def summary_messages(messages: list[dict[str, str]], summary: Summary | str) -> list[dict[str, str]]:
    """``messages`` with the summary's system prompt added (merged into an existing system message)."""
    prompt = summary_system_prompt(summary)
    if messages and messages[0].get("role") == "system":
        return [{"role": "system", "content": messages[0]["content"] + "\n\n" + prompt}, *messages[1:]]
    return [{"role": "system", "content": prompt}, *messages]


def _lexicon() -> list[tuple[tuple[str, ...], str, int]]:
    """Every pole phrase as a token tuple with its axis and sign, longest first (so "non-technical" wins)."""
    entries: dict[tuple[str, ...], tuple[str, int]] = {}
    for axis in AXES:
        high, low = _SYNONYMS.get(axis.name, ((), ()))
        for sign, phrases in ((1, (axis.high, *high)), (-1, (axis.low, *low))):
            for phrase in phrases:
                tokens = tuple(_TOKEN.findall(phrase.lower()))
                if tokens:
                    entries.setdefault(tokens, (axis.name, sign))
    return sorted(((k, *v) for k, v in entries.items()), key=lambda e: -len(e[0]))


_LEXICON = _lexicon()


def summary_to_axes(text: str) -> dict[str, float]:
    """Map a (possibly user-edited) summary back onto the named axes: ``{axis: delta}`` with delta in [-1, 1].

    Keyword and phrase matching on each axis' ``high``/``low`` phrases and synonyms, clause by clause; a
    negation or contrast cue ("don't", "no", "without", "rather than", "over", "less"...) flips every later
    match in its clause, so "I don't want jokes" gives ``{"humour": -1.0}``. Mild words ("slightly") halve a
    match. Only axes the text mentions appear.
    """
    totals: dict[str, float] = {}
    unquoted = _QUOTED.sub(" ", text.lower().replace("’", "'"))  # quoted example answers are not preferences
    for clause in _CLAUSE.split(unquoted):
        tokens = _TOKEN.findall(clause)
        negated, contrasted, scale, i = 1, 1, 1.0, 0
        while i < len(tokens):
            match = next((e for e in _LEXICON if tuple(tokens[i : i + len(e[0])]) == e[0]), None)
            if match is not None:
                phrase, axis, sign = match
                totals[axis] = totals.get(axis, 0.0) + sign * negated * contrasted * scale
                scale = 1.0
                i += len(phrase)
                continue
            token = tokens[i]
            if token == ",":
                negated = 1
            elif token in _CONTRASTS and not (token == "than" and i > 0 and tokens[i - 1] == "rather"):
                contrasted = -contrasted
            elif token in _NEGATIONS:
                negated = -negated
            elif token in _MILD:
                scale = 0.5
            elif token in _STRONG:
                scale = 1.0
            i += 1
    return {axis: float(np.clip(v, -1.0, 1.0)) for axis, v in totals.items() if v != 0.0}


def summary_edit_delta(old_text: str, new_text: str) -> dict[str, float]:
    """What an edit changed, per axis: ``summary_to_axes(new) - summary_to_axes(old)`` (non-zero entries)."""
    old, new = summary_to_axes(old_text), summary_to_axes(new_text)
    changed = {a: new.get(a, 0.0) - old.get(a, 0.0) for a in set(old) | set(new)}
    return {a: d for a, d in sorted(changed.items()) if abs(d) > 1e-9}


def summary_consistent(text: str, statements: Sequence[AxisStatement]) -> bool:
    """True when ``text`` reads back (``summary_to_axes``) to every statement's direction and contradicts none."""
    read = summary_to_axes(text)
    return all(read.get(s.axis, 0.0) * s.direction > 0 for s in statements)


def summary_rewrite(generator: Generator, summary: Summary, seed: int = 0, max_new_tokens: int = 96) -> Summary:
    """Let the LLM rewrite the grounded text more naturally; keep it only if it still matches the weights.

    The rewrite is re-scored with ``summary_to_axes``: every top axis must read back in its direction (and
    none reversed), otherwise the grounded summary is returned unchanged.
    """
    from personalization.generation import SamplingConfig

    if not summary.statements:
        return summary
    messages = [
        {
            "role": "system",
            "content": "Rewrite the user's style preferences as two short friendly sentences addressed to them "
            "('You like...'). Keep every preference and its direction. Do not add new preferences.",
        },
        {"role": "user", "content": summary.text.split(" For example,")[0]},
    ]
    sampling = SamplingConfig(max_new_tokens=max_new_tokens, temperature=0.3, top_p=0.9, seed=seed)
    rewrite = generator.generate_candidates(messages, 1, sampling)[0].strip()
    if not rewrite or not summary_consistent(rewrite, summary.statements):
        return summary
    return Summary(text=rewrite, statements=summary.statements, example=summary.example, source="llm")


def summary_needs_refresh(
    old_weights: Sequence[float] | np.ndarray | None,
    new_weights: Sequence[float] | np.ndarray,
    threshold: float = 0.2,
    names: Sequence[str] | None = None,
    max_axes: int = 3,
) -> bool:
    """Debounce: rewrite the summary only when the weights moved enough to change what it would say.

    True when there is no old summary, when the relative change ``‖new − old‖ / ‖old‖`` exceeds ``threshold``,
    or when the ranked top ``max_axes`` (named axes when ``names`` is given) or their signs changed.
    """
    if old_weights is None:
        return True
    old = np.asarray(old_weights, dtype=float)  # (K,)
    new = np.asarray(new_weights, dtype=float)  # (K,)
    if old.shape != new.shape:
        return True
    if np.linalg.norm(new - old) > threshold * max(float(np.linalg.norm(old)), 1e-9):
        return True
    keep = [i for i in range(len(new)) if names is None or names[i] in _AXIS_BY_NAME]

    def top(w: np.ndarray) -> list[tuple[int, bool]]:
        ranked = sorted(keep, key=lambda i: -abs(w[i]))[:max_axes]
        return [(i, bool(w[i] > 0)) for i in ranked]

    return top(old) != top(new)
