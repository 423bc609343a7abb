from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from personalization.axes import AXES, AXIS_NAMES
from personalization.summaries import (
    ExamplePair,
    Summary,
    summary_edit_delta,
    summary_from_weights,
    summary_messages,
    summary_needs_refresh,
    summary_rewrite,
    summary_system_prompt,
    summary_to_axes,
)

NAMES = [*AXIS_NAMES, "latent_0", "latent_1"]
# brevity +0.9, humour -1.2, formality -0.5 are the strongest named axes; latent_0 is larger but unnamed
WEIGHTS = np.array([0.9, 0.1, -0.5, 0.0, -1.2, 0.3, 0.0, 0.2, 3.0, -2.0])
STDDEVS = np.array([0.2, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.1, 0.1])
EXAMPLE = ExamplePair("How long should I boil an egg?", "Nine minutes.", "Eggs have a fascinating history...")


def test_summary_names_the_strongest_axes_with_direction_and_confidence() -> None:
    summary = summary_from_weights(NAMES, WEIGHTS, STDDEVS)
    assert [s.axis for s in summary.statements] == ["humour", "brevity", "formality"]
    assert [s.direction for s in summary.statements] == [-1, 1, -1]
    assert "a serious tone rather than a playful, humorous touch (strong evidence)" in summary.text
    assert "short, to-the-point answers rather than long, thorough answers (strong evidence)" in summary.text
    assert "a casual, conversational tone" in summary.text and "(early signal)" not in summary.text
    assert "latent" not in summary.text and "technical" not in summary.text


def test_summary_is_deterministic_and_includes_the_example_pair() -> None:
    first = summary_from_weights(NAMES, WEIGHTS, STDDEVS, example=EXAMPLE)
    assert first == summary_from_weights(NAMES, WEIGHTS, STDDEVS, example=EXAMPLE)
    assert 'you chose "Nine minutes." over "Eggs have a fascinating history..."' in first.text


def test_confidence_follows_the_posterior_spread() -> None:
    wide = summary_from_weights(NAMES, WEIGHTS, np.full(10, 2.0), max_axes=1)
    assert wide.statements[0].confidence == "early signal" and "(early signal)" in wide.text


def test_no_clear_preference_gives_a_neutral_summary() -> None:
    summary = summary_from_weights(NAMES, np.zeros(10), np.ones(10))
    assert summary.statements == [] and "No clear preferences yet" in summary.text


@pytest.mark.parametrize("axis", AXES, ids=lambda a: a.name)
@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["high", "low"])
def test_a_grounded_summary_reads_back_to_its_own_directions(axis: Any, sign: float) -> None:
    weights = np.zeros(len(AXIS_NAMES))
    weights[AXIS_NAMES.index(axis.name)] = sign
    summary = summary_from_weights(AXIS_NAMES, weights, np.full(len(AXIS_NAMES), 0.2), example=EXAMPLE)
    assert summary_to_axes(summary.text) == {axis.name: sign}


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ("I don't want jokes", {"humour": -1.0}),
        ("No jokes, please. Keep it short and friendly.", {"humour": -1.0, "brevity": 1.0, "warmth": 1.0}),
        ("Less formal, more casual", {"formality": -1.0}),
        ("not too long", {"brevity": 1.0}),
        ("I prefer prose over bullet points", {"structure": -1.0}),
        ("slightly more technical", {"technical_depth": 0.5}),
        ("Avoid jargon and be direct without caveats", {"technical_depth": -1.0, "caution": -1.0}),
        ("Never use bullet points; I love a good pun", {"structure": -1.0, "humour": 1.0}),
        ("Be confident, not hedged", {"confidence": 1.0}),
    ],
)
def test_edited_summaries_map_back_onto_the_axes(edit: str, expected: dict[str, float]) -> None:
    assert summary_to_axes(edit) == expected


def test_edit_delta_shows_what_changed() -> None:
    old = summary_from_weights(NAMES, WEIGHTS, STDDEVS).text
    new = old.replace("You prefer a serious tone rather than a playful, humorous touch", "I like jokes")
    assert summary_edit_delta(old, new) == {"humour": 2.0}


def test_needs_refresh_only_when_the_weights_move_enough() -> None:
    assert summary_needs_refresh(None, WEIGHTS)
    assert not summary_needs_refresh(WEIGHTS, WEIGHTS + 0.01, threshold=0.2, names=NAMES)
    assert summary_needs_refresh(WEIGHTS, WEIGHTS * 2, threshold=0.2)
    swapped = WEIGHTS.copy()
    swapped[3] = -0.55  # warmth overtakes formality in the named top three
    assert summary_needs_refresh(WEIGHTS, swapped, threshold=10.0, names=NAMES)


def test_summary_conditions_a_generator_through_the_system_prompt() -> None:
    summary = summary_from_weights(NAMES, WEIGHTS, STDDEVS, example=EXAMPLE)
    prompt = summary_system_prompt(summary)
    assert "short, to-the-point answers" in prompt and "Nine minutes" not in prompt
    merged = summary_messages([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}], summary)
    assert merged[0]["content"].startswith("Be brief.\n\n") and prompt in merged[0]["content"]
    added = summary_messages([{"role": "user", "content": "Hi"}], "You like jokes.")
    assert [m["role"] for m in added] == ["system", "user"]


class _FixedGenerator:
    def __init__(self, text: str) -> None:
        self.text = text

    def generate_candidates(self, messages: Any, n: int, sampling: Any, **_: Any) -> list[str]:
        return [self.text] * n


def test_llm_rewrite_is_kept_only_when_it_agrees_with_the_weights() -> None:
    grounded = summary_from_weights(NAMES, WEIGHTS, STDDEVS)
    faithful = "You like a serious tone, short answers and a casual, relaxed voice."
    kept = summary_rewrite(_FixedGenerator(faithful), grounded, seed=0)  # type: ignore[arg-type]
    assert kept.source == "llm" and kept.text == faithful and kept.statements == grounded.statements
    contradicting = "You love jokes and short answers in a casual voice."
    assert summary_rewrite(_FixedGenerator(contradicting), grounded) == grounded  # type: ignore[arg-type]
    forgetful = "You like short answers."
    assert summary_rewrite(_FixedGenerator(forgetful), grounded).source == "grounded"  # type: ignore[arg-type]


def test_an_empty_summary_is_not_sent_to_the_llm() -> None:
    empty = Summary(text="No clear preferences yet.")
    assert summary_rewrite(_FixedGenerator("You love jokes."), empty) is empty  # type: ignore[arg-type]
