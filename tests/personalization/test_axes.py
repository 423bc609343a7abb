from __future__ import annotations

import pytest

from personalization.axes import (
    AXIS_NAMES,
    axes_score,
    brevity,
    caution,
    confidence,
    formality,
    humour,
    structure,
    technical_depth,
    warmth,
)

PROMPT = "How do I boil an egg?"


def test_brevity_prefers_one_liners_over_long_answers() -> None:
    short = "Boil it for nine minutes."
    long = " ".join(["Place the egg in cold water and bring it slowly to the boil."] * 20)
    assert brevity(PROMPT, short) > 0.9
    assert brevity(PROMPT, long) < brevity(PROMPT, short) / 2


def test_structure_counts_list_items_and_headings() -> None:
    listed = "## Steps\n1. Fill a pot.\n2. Add the egg.\n3. Boil nine minutes."
    prose = "Fill a pot, add the egg and boil it for nine minutes."
    assert structure(PROMPT, listed) == pytest.approx(1.0)
    assert structure(PROMPT, prose) == 0.0


def test_formality_separates_report_register_from_chat() -> None:
    formal = "Therefore, it is appropriate to ensure the temperature is maintained; furthermore, consult guidance."
    casual = "Hey, yeah it's super easy, you're gonna love it lol!"
    assert formality(PROMPT, formal) > 0.6 > 0.4 > formality(PROMPT, casual)


def test_warmth_rewards_friendly_second_person_wording() -> None:
    warm = "I'm so glad you asked! I hope you enjoy your lovely breakfast, thanks for sharing."
    cold = "Eggs boil at one hundred degrees Celsius."
    assert warmth(PROMPT, warm) > 0.5
    assert warmth(PROMPT, cold) == 0.0


def test_humour_detects_jokes_and_emoji() -> None:
    funny = "Haha, that's a funny one, no yolk! 😂"
    plain = "Boil the egg for nine minutes."
    assert humour(PROMPT, funny) > 0.5
    assert humour(PROMPT, plain) == 0.0


def test_technical_depth_rises_with_numbers_code_and_jargon() -> None:
    technical = "At 101.3 kPa, ovotransferrin denatures at 61.5 °C (see `denature(t=61.5)`), albumin at 80 °C."
    plain = "Just boil it until it is done."
    assert technical_depth(PROMPT, technical) > 0.8
    assert technical_depth(PROMPT, plain) < 0.1


def test_caution_detects_safety_framing() -> None:
    careful = "Be careful: boiling water is dangerous. Consult a professional and avoid the risk of burns."
    direct = "Boil it for nine minutes."
    assert caution(PROMPT, careful) > 0.8
    assert caution(PROMPT, direct) == 0.0


def test_confidence_is_high_for_boosters_and_low_for_hedges() -> None:
    assertive = "This is definitely the best way, always nine minutes, absolutely."
    hedged = "It might perhaps depend; maybe eight, possibly nine, it seems."
    assert confidence(PROMPT, assertive) > 0.8
    assert confidence(PROMPT, hedged) < 0.2
    assert confidence(PROMPT, "") == 0.5


def test_axes_score_returns_every_axis_in_order() -> None:
    scores = axes_score(PROMPT, "Boil it for nine minutes.")
    assert len(scores) == len(AXIS_NAMES) == 8
    assert scores[0] == pytest.approx(brevity(PROMPT, "Boil it for nine minutes."))
