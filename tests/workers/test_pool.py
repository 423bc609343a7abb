"""Candidate pools for typed prompts, with the real packaged SmolLM2 and MiniLM."""

from __future__ import annotations

import pytest

from tests.factories import PromptFactory
from webapp.catalog.models import Response
from workers.pool import pool_generate_run

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def test_pool_answers_each_style_once_with_features() -> None:
    prompt = PromptFactory(text="How do I keep basil alive on a windowsill?", source="user")
    assert pool_generate_run(prompt_id=prompt.pk, max_styles=2, max_new_tokens=12) == 2
    responses = list(Response.objects.filter(prompt=prompt))
    assert {r.style for r in responses} == {"concise", "detailed"}
    assert all(r.text and len(r.axis_scores) == 8 and len(bytes(r.embedding)) == 384 * 4 for r in responses)
    assert pool_generate_run(prompt_id=prompt.pk, max_styles=2, max_new_tokens=12) == 0  # idempotent
