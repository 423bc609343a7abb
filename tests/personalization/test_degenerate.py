"""The degenerate-text filter, on real outputs of the packaged SmolLM2-135M (the project's own candidate pool,
``webapp/catalog/demo/pool.jsonl.gz``, written by ``manage.py generate_demo_pool``) and on the cases the issue saw."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from personalization.degenerate import Degenerate, clean_indices, degenerate_reason, is_degenerate, seq_rep

EMPTY, TOO_SHORT, SKELETON, LOOP, LEAK = (
    Degenerate.EMPTY,
    Degenerate.TOO_SHORT,
    Degenerate.SKELETON,
    Degenerate.LOOP,
    Degenerate.LEAK,
)

#: what the packaged model wrote each with the reason it must not be shown
BAD = [
    (
        LOOP,
        "I'd recommend a traditional \"Bondi's Bistro\" with a variety of international dishes. You could have a hearty, multi-course menu with something like:\n\n- Grilled Lamb Shrines with a selection of international dishes: some of which include:\n- Lamb Shrines with a selection of international dishes: some of which include:\n- Lamb Shrines with a selection of international dishes: some of which include:\n- Lamb Shrines with a selection of international dishes: some of which include:\n- Lamb Shrines with a selection of international dishes: some of which include:\n- Lamb Shrines with a selection of international dishes",
    ),
    (
        LEAK,
        "Sure, something to avoid is too spicy, like jalapeno. Chicken is cooked for a long time and for the sake of food, makes it too hot. But safe is safe, you can eat it as long as it's not too spicy.\n\nRemember, being cautious when dealing with food, especially food that's not supposed to be eaten. In the context of the user's situation, it's not safe to eat chicken that was left out overnight.\n\nSame goes for cleaning and hygiene, avoid using dishwasher, use oven only for cooking and washing dishes.",
    ),
    (
        LOOP,
        "To sharpen a kitchen knife at home, start by using a good quality, high-quality, high-quality, high-quality, high-quality, high-quality, high-quality, high-quality, high-quality, high-quality, high-quality, high-quality, high-quality, high-quality, high-quality, high-quality, high-quality, high-quality, high-quality, high-quality, high-quality, high-quality, high-quality, high-quality, high-quality, high-quality, high-quality, high-quality, high-quality, high-quality, high-quality, high-quality, high",
    ),
    (
        SKELETON,
        "1. 1. First, you need to select a suitable knife that is suitable for your specific needs. 2. 2. Next, you should choose a sharp knife. 3. 3. Finally, you should sharpen the knife. 4. 4. You can do this by using a knife sharpener. 5. 5. You can buy a knife sharpener online or at a local knife shop. 6. 6. To ensure you choose a sharp knife, make sure to choose a knife that is suitable for your needs. 7. 7. You should always choose a knife that is designed for sharpening. 8. 8. You should also choose a knife that is suitable for your personal needs. 9. 9.",
    ),
    (
        LEAK,
        "The answer to this question is not provided. The user specifies the number of liters of water needed in a day, but does not provide a specific amount of water.",
    ),
    (
        EMPTY,
        "1. 1.1\n2. 2.1\n3. 3.1\n4. 4.1\n5. 5.1\n6. 6.1\n7. 7.1\n8. 8.1\n9. 9.1\n10. 10.1\n11. 11.1\n12. 12.1\n13. 13.1\n14. 14.1\n15. 15.1\n16. 16.1\n17. 17.1\n18. 18.1\n19. 19.1\n20. 20.1\n21.",
    ),
    (TOO_SHORT, "In 2015, a well-wishersTALK about HASSUB! in the *PUB* sport."),
    (
        LOOP,
        "1. What is the current situation?\n2. What is the loan amount?\n3. How does it impact your financial situation?\n4. What is the plan for repayment?\n5. What is the plan for interest and fees?\n6. Is it a good idea?\n7. Should I buy a car with a loan?\n8. Should I buy a car with a loan?\n9. What are the benefits of buying a car with a loan?\n10. What are the risks of buying a car with a loan?\n11. Should I buy a car with a loan?\n12. What are the plans for repayment?\n13. Should I buy a car with a loan?\n14. What is the plan for repayment?\n15.",
    ),
    (
        LOOP,
        "1. **Immutability**: Lists in Python are mutable, meaning they can be modified after creation. Tuples, on the other hand, are immutable, meaning they cannot be modified after creation.\n2. **Syntax**: Lists are defined using square brackets `[]` and tuples are defined using parentheses `()`.\n3. **Indexing**: Lists can be accessed using their index (`1`), while tuples cannot.\n4. **Syntax**: Lists are defined using square brackets `[]` and tuples are defined using parentheses `()`.\n5. **Syntax**: Lists are defined using square brackets `[]` and tuples are defined using parentheses `()`.\n6. **Syntax**: Lists are defined using square brackets `[]` and tuples are defined using parentheses `()`.",
    ),
    (
        LOOP,
        "1. An API (Application Programming Interface) is a set of rules and regulations that allow companies to provide services to clients.\n2. The API is a network that allows clients to access and use services from a company.\n3. The API allows companies to provide services to clients.\n4. The API allows clients to access and use services.\n5. The API allows companies to provide services to clients.\n6. The API allows companies to access and use services.\n7. The API allows companies to provide services to clients.\n8. The API allows companies to access and use services.\n9. The API allows companies to provide services to clients.\n10. The API allows companies to access and use services.\n11. The API allows companies to provide services to clients.\n12.",
    ),
    (
        LOOP,
        "1. Use a consistent naming convention throughout your code.\n2. Use the `snake_case` syntax for variable names.\n3. Avoid using magic methods or hard-to-remember names.\n4. Keep your variable names short and descriptive.\n5. Use a consistent naming convention throughout your code.\n\nExample:\n```\n# This is a variable name\n# This is a function name\n```\nUse a consistent naming convention throughout your code.\n```\n# This is a variable name\n# This is a function name\n```\nUse a consistent naming convention throughout your code.\n```\n# This is a variable name\n# This is a function name\n```\nAvoid using magic methods or hard-to-remember names.",
    ),
    (TOO_SHORT, "Why do cats purr, and why do they purr?"),
    (
        SKELETON,
        "1. 1. 1. 2. 3. 4. 5.\n\nTo avoid jet lag on a long flight, plan ahead and eat light snacks before the flight. Avoid heavy meals and drinks, and stay hydrated.\n\n2. 2. 3. 4. 5.\n\nStay hydrated and eat light meals or snacks, and avoid heavy meals and drinks.\n\n3. 3. 4. 5.\n\nMaintain a balanced diet, and avoid heavy meals and drinks.\n\n4. 4. 5.\n\nDrink plenty of water throughout the flight.\n\n5. 5.\n\nTake a light breakfast before the flight, and eat light meals or snacks.\n\n6. 6. 7. 8.",
    ),
    (TOO_SHORT, "Ladies and gentlemen, today is all about having fun!"),
    (
        LOOP,
        "1. Team: \nLets meet tomorrow at 2 PM.\n2. Guest: \nLet's meet at the 2 PM, 2023.\n\nI.D. Confirm:\n1. Team: \nLets meet tomorrow at 2 PM.\n2. Guest: \nLet's meet at 2 PM, 2023.\n\nII.D. Confirm:\n1. Team: \nLets meet tomorrow at 2 PM.\n2. Guest: \nLet's meet at 2 PM, 2023.\n\nIII.D. Confirm:\n1. Team: \nLets meet tomorrow at 2 PM.\n2. Guest: \nLet's meet at 2 PM, 2023.",
    ),
    (
        LOOP,
        '1. Say no to extra work without explanation:\n- "I\'m not available for extra work tonight"\n- "I\'m not available for extra work tomorrow"\n- "I\'m not available for extra work in the next 2 days"\n2. Say no to extra work without explanation:\n- "I\'m not available for extra work tonight"\n- "I\'m not available for extra work tomorrow"\n- "I\'m not available for extra work tomorrow"\n- "I\'m not available for extra work tonight"\n- "I\'m not available for extra work tomorrow"\n- "I\'m not available for extra work tomorrow"\n- "I\'m not available for extra work tomorrow"\n- "I\'m not available for extra work tomorrow"',
    ),
    (TOO_SHORT, "If you're looking for a gift, I'd recommend something special."),
    (
        LOOP,
        "1. I'm sorry for your loss.\n2. I'll make sure to check your birthday tomorrow.\n3. I'm not sure what you're doing, but I'm sure it's okay.\n4. I'll be sure to check your birthday tomorrow.\n5. I'm sorry for your loss.\n6. I'll make sure to remember your birthday tomorrow.\n7. I'll make sure to remember your birthday tomorrow.\n8. I'll make sure to remember your birthday tomorrow.\n9. I'm sure it's okay.\n10. I'll make sure to remember your birthday tomorrow.\n11. I'll make sure to remember your birthday tomorrow.\n12. I'll make sure to remember your birthday tomorrow.\n13. I'll make sure to remember your birthday tomorrow.",
    ),
    (
        EMPTY,
        "1. 1. \n* 2. 2. \n* 3. 3. \n* 4. 4. \n* 5. 5. \n* 6. 6. \n* 7. 7. \n* 8. 8. \n* 9. 9. \n* 10. 10. \n* 11. 11. \n* 12. 12. \n* 13. 13. \n* 14. 14. \n* 15. 15. \n* 16. 16. \n* 17. 17. \n* 18.",
    ),
    (
        LOOP,
        "In twilight's hallowcastle, where brave\n  Against all odds,\n  Lestings last law,\n  Dies in autumn's shade.\n\nForever,\n  A lone with a light,\n  A bird with a song,\n  Dies in autumn's shade.\n\nIn twilight's hallowcastle,\n  A lone with a light,\n  Lestings last law,\n  Dies in autumn's shade.\n\nThe air is filled with the scent of home,\n  A new life,\n  A new life,\n  Dies in autumn's shade.\n\nThe autumn of the earth,\n  A leaf with a name,\n  Dies in autumn's shade.\n\nThe autumn of the earth,\n  A leaf with a name,\n  Dies in autumn's shade.\n\nThe autumn of the earth,\n  A leaf with a name,\n  Dies in autumn's shade.\n\nThe autumn of the earth,\n  A leaf with a name,\n  Dies in autumn's shade.",
    ),
    (
        LOOP,
        "1. Autumn's warm embrace:\n2. Autumn's gentle lapping:\n3. The changing leaves:\n4. The rustling leaves:\n5. The leaves in the leaves' way:\n6. The leaves in the leaves' way:\n7. The leaves in the leaves' way:\n8. The leaves in the leaves' way:\n9. The leaves in the leaves' way:\n10. The leaves in the leaves' way:\n11. The leaves in the leaves' way:\n12. The leaves in the leaves' way:\n13. The leaves in the leaves' way:\n14. The leaves in the leaves' way:\n15. The leaves in the leaves' way:\n16.",
    ),
    (TOO_SHORT, "One day!\nTwo days!\nThree days!"),
    (TOO_SHORT, "The Coffee Scene: A Small Brew Bar"),
    (TOO_SHORT, "The N'Flo Coffee Co."),
    (TOO_SHORT, "1. Mocha\n2. Mocha Cafe"),
    (
        LOOP,
        "1. Embrace the blank page\n2. Take a walk outside and breathe fresh air\n3. Write down your idea and start with a goal\n4. Start with a goal\n5. Write down your idea and start with your goal\n6. Write down your idea and start with your goal\n7. Write down your idea and start with your goal\n8. Write down your idea and start with your goal\n9. Write down your idea and start with your goal",
    ),
    (TOO_SHORT, "Wishing you and your bride-to-be, 2018."),
    (
        LOOP,
        "1. Welcome: The best way to celebrate is to celebrate.\n2. The best way to celebrate is to celebrate.\n3. The best way to celebrate is to celebrate.\n4. The best way to celebrate is to celebrate.\n5. The best way to celebrate is to celebrate.\n6. The best way to celebrate is to celebrate.\n7. The best way to celebrate is to celebrate.\n8. The best way to celebrate is to celebrate.\n9. The best way to celebrate is to celebrate.\n10. The best way to celebrate is to celebrate.\n11. The best way to celebrate is to celebrate.\n12. The best way to celebrate is to celebrate.\n13. The best way to celebrate is to celebrate.\n14.",
    ),
    (TOO_SHORT, "Blessed to celebrate my best friend's wedding with you."),
    (
        LOOP,
        "1. Read the book before the exam\n2. Read the book before the exam\n3. Read the book before the exam\n4. Read the book before the exam\n5. Read the book before the exam\n\nRemembering what you read can be challenging, but there are a few strategies that can help:\n\n- Read a book before the exam to review the material and improve your understanding.\n- Read a book before the exam to take a break and focus on your preparation.\n- Read a book before the exam to get a feel for the material and prepare for the exam.\n- Read a book before the exam to take a break and focus on your mental health.\n\nIn general, the best way to remember what you read is to make it a habit.",
    ),
]

#: real answers of the same model that are fine to show: short, listy, or repeating the question's words
GOOD = [
    (
        "How do I cook rice so it comes out fluffy instead of sticky?",
        'To achieve a flaky rice after sticky, you can try using a rice cooker with a rice cooker that has a "dry" '
        "setting.",
    ),
    (
        "What can I make for dinner tonight with eggs, spinach and some leftover bread?",
        "I can make a classic omelette with eggs, spinach, and some leftover bread. I can also make a hash of eggs, "
        "spinach, and bread, and serve it with some leftover bread.",
    ),
    (
        "Why does my homemade bread turn out dense?",
        "The infamous dense bread is often attributed to a recipe that contains too many ingredients, particularly "
        "flour, which can make it difficult for the yeast to ferment, resulting in a dense and crumbly texture.",
    ),
    (
        "How do I cook rice so it comes out fluffy instead of sticky?",
        "1. Heat a little bit of oil in a pan.\n2. Add a small amount of flour to the pan.\n3. Add the rice to the "
        "pan.\n4. Once the rice is fully cooked, add the flour to the pan.\n5. Add the oil to the pan.\n6. Once the "
        "rice is fully cooked, add the flour to the pan.\n7. Now, just let it cook until the rice is tender.",
    ),
]


@pytest.mark.parametrize(("reason", "text"), BAD)
def test_real_bad_outputs_are_caught_with_their_reason(reason: Degenerate, text: str) -> None:
    assert degenerate_reason(text) == reason


@pytest.mark.parametrize(("prompt", "text"), GOOD)
def test_real_good_outputs_pass(prompt: str, text: str) -> None:
    assert degenerate_reason(text, prompt=prompt) is None


def test_the_issue_cases() -> None:
    # the demo reveal's projector text and best-of-N's near-empty pick
    assert degenerate_reason(" ".join(f"{i}.1" for i in range(1, 21))) == EMPTY
    assert degenerate_reason("keep them indoors until they're ready to be transported") == TOO_SHORT
    assert degenerate_reason("") == EMPTY
    assert degenerate_reason("   \n ") == EMPTY
    leak = (
        "The user's preference is that you should drink 2 liters of water a day, and more when it is hot or "
        "when you exercise."
    )
    assert degenerate_reason(leak, prompt="How much water should I drink a day?") == LEAK


def test_copying_the_summary_is_a_leak_but_repeating_the_question_is_not() -> None:
    summary = "You prefer short, to-the-point answers without hedging, and you like a joke now and then."
    prompt = "What is the best way to learn to cook at home without spending much money?"
    recited = (
        "You prefer short, to-the-point answers without hedging, so: buy rice, beans and eggs, and cook one "
        "new dish a week."
    )
    echoed = (
        "The best way to learn to cook at home without spending much money is to start with rice, beans and "
        "eggs and cook one new dish a week."
    )
    assert degenerate_reason(recited, prompt=prompt, instructions=[summary]) == LEAK
    assert degenerate_reason(echoed, prompt=prompt, instructions=[summary]) is None
    assert (
        degenerate_reason(recited, prompt=prompt) is None
    )  # without the summary there is nothing to compare


def test_a_prompt_about_users_may_be_answered_about_users() -> None:
    prompt = "How should an app ask the user for their preferences?"
    text = (
        "Ask the user for their preferences once, at the moment they matter, with a sensible default already "
        "chosen and a way to change it later in the settings."
    )
    assert degenerate_reason(text, prompt=prompt) is None


def test_seq_rep_measures_loops() -> None:
    assert seq_rep("a b c d e f g h".split()) == 0.0
    assert seq_rep(("x y z w " * 10).split()) > 0.85
    assert seq_rep(["a", "b"]) == 0.0


def test_clean_indices_keeps_order_and_drops_the_bad() -> None:
    texts = [GOOD[2][1], BAD[0][1], GOOD[0][1], "Hi."]
    assert clean_indices(texts) == [0, 2]
    assert is_degenerate("Hi.")
    assert not is_degenerate(GOOD[2][1])


def test_the_shipped_pool_offers_no_degenerate_answer() -> None:
    """``generate_demo_pool`` resamples what the filter rejects (the answers in ``BAD`` came from the pool before
    that), so /vote/ never offers one."""
    path = Path(__file__).resolve().parents[2] / "webapp" / "catalog" / "demo" / "pool.jsonl.gz"
    rows = [json.loads(line) for line in gzip.open(path, "rt")][1:]
    answers = [(row["text"], a["text"]) for row in rows for a in row["responses"]]
    assert len(answers) > 500
    assert [text for prompt, text in answers if is_degenerate(text, prompt=prompt)] == []
