"""The demo pool never ships a degenerate answer: each is sampled again, and left out if it stays broken."""

from __future__ import annotations

from tests.personalization.test_generation import tiny_generator
from workers.demo_pool import _degenerate_rewrite

PROMPTS = [{"domain": "home", "text": "How often should I wash my bed sheets?"}]
STYLES = [
    {"name": "detailed", "system": "Answer thoroughly.", "max_new_tokens": 8, "temperature": 0.7},
    {"name": "step_by_step", "system": "Answer as numbered steps.", "max_new_tokens": 8, "temperature": 0.7},
]
GOOD = ("Wash them once a week, or every few days in a hot summer or when you are ill, and dry them fully "
        "before you put them back on the bed.")


def test_a_degenerate_answer_is_resampled_then_left_out_and_good_ones_are_kept() -> None:
    # the packaged model's real skeleton list; the tiny random LM only writes "wN" tokens, never an answer
    answers = {(0, "detailed"): GOOD, (0, "step_by_step"): "1. 1.1\n2. 2.1\n3. 3.1\n4. 4.1\n5. 5.1"}
    rewritten, dropped = _degenerate_rewrite(tiny_generator(), PROMPTS, STYLES, answers, seed=0, retries=2)
    assert (rewritten, dropped) == (0, 1)
    assert answers == {(0, "detailed"): GOOD}


def test_nothing_to_rewrite_leaves_the_pool_alone() -> None:
    answers = {(0, "detailed"): GOOD}
    assert _degenerate_rewrite(tiny_generator(), PROMPTS, STYLES, answers, seed=0, retries=2) == (0, 0)
    assert answers == {(0, "detailed"): GOOD}
