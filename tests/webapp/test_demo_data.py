"""The demo data the project ships: a prompt library written for Tailor and the pool its generator produced."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from webapp.catalog.models import Prompt, Response

POOL = Path(settings.TAILOR_DEMO_DIR) / "pool.jsonl.gz"


def test_prompt_library_has_60_prompts_in_8_domains_and_6_styles() -> None:
    library = json.loads((Path(settings.TAILOR_DEMO_DIR) / "prompts.json").read_text())
    assert len(library["prompts"]) >= 60
    assert len({p["domain"] for p in library["prompts"]}) >= 8
    assert len(library["styles"]) >= 6


@pytest.mark.django_db
def test_shipped_pool_imports_once_with_features() -> None:
    call_command("load_demo_data")
    prompts, responses = Prompt.objects.count(), Response.objects.count()
    assert prompts >= 60 and responses >= 6 * prompts
    assert not Response.objects.filter(axis_scores=None).exists()
    assert all(len(bytes(e)) == 384 * 4 for e in Response.objects.values_list("embedding", flat=True)[:20])
    call_command("load_demo_data")  # running it twice changes nothing
    assert (Prompt.objects.count(), Response.objects.count()) == (prompts, responses)


@pytest.mark.django_db
def test_a_broken_pool_file_is_refused_and_nothing_is_imported(tmp_path) -> None:
    bad = tmp_path / "bad.jsonl.gz"
    with gzip.open(bad, "wt") as fh:
        fh.write(json.dumps({"header": {"format": 1}}) + "\n")
        fh.write(json.dumps({"text": "ok prompt", "responses": [{"text": "a", "axis_scores": [0] * 8},
                                                                 {"text": "b", "axis_scores": [0] * 8}]}) + "\n")
        fh.write(json.dumps({"text": "broken", "responses": [{"text": "only one"}]}) + "\n")
    with pytest.raises(CommandError, match="line 3"):
        call_command("load_demo_data", file=bad)
    assert not Prompt.objects.exists()
