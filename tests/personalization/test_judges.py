from __future__ import annotations

from personalization.judges import (
    JUDGE_NAMES,
    hedging,
    judges_score,
    length,
    list_structure,
    question_count,
    readability,
    sentiment,
)


def test_readability_prefers_short_plain_words() -> None:
    easy = "The cat sat on the mat. It was a good day."
    hard = "Notwithstanding institutional considerations, comprehensive epistemological reconceptualization remains."
    assert readability(easy) > readability(hard)
    assert readability("") == 0.0


def test_sentiment_separates_positive_from_negative_text() -> None:
    assert sentiment("I love this, it is wonderful and great!") > 0.5
    assert sentiment("This is terrible, awful and sad.") < -0.5


def test_length_grows_with_word_count() -> None:
    assert length("one two three four five six") > length("one two") > length("") == 0.0


def test_list_structure_counts_bulleted_and_numbered_items() -> None:
    assert list_structure("1. eggs\n2. milk\n- flour") > list_structure("- eggs") > list_structure("eggs and milk")


def test_question_count_counts_question_marks() -> None:
    assert question_count("Why? How? What?") == 3.0
    assert question_count("No questions here.") == 0.0


def test_hedging_detects_tentative_phrases() -> None:
    assert hedging("I think it might work, perhaps.") > hedging("It works.") == 0.0


def test_judges_score_returns_every_judge() -> None:
    assert len(judges_score("Hello there.")) == len(JUDGE_NAMES) >= 6
