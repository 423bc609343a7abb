"""Exports: DPO triples, ties and both-bad kept apart, raw votes; written as JSONL and a Hugging Face dataset,
and read back with ``datasets`` (round trip)."""

from __future__ import annotations

import json
import uuid
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.factories import PairFactory, PromptFactory, ResponseFactory, UserFactory
from webapp.exports.selectors import ExportScope, export_rows
from webapp.exports.services import export_write
from webapp.profiles.models import RewardProfile
from webapp.votes.models import Pair
from webapp.votes.services import pair_create, vote_record


def _vote(user, choice: str, source: str = "random", strength: int = 2) -> Pair:
    pair = PairFactory(user=user, source=source)
    vote_record(user=user, pair_id=pair.pk, idempotency_key=uuid.uuid4(), choice=choice, strength=strength)
    return pair


@pytest.fixture
def votes(db) -> dict[str, object]:
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    RewardProfile.objects.create(user=alice, prototype_id=3)
    left = _vote(alice, "left", strength=3)
    right = _vote(alice, "right")
    _vote(alice, "tie")
    _vote(alice, "both_bad")
    _vote(bob, "left")
    _vote(bob, "right", source="repeat")  # a quality check: raw votes only
    prompt, other = PromptFactory(), PromptFactory()
    good, off = ResponseFactory(prompt=prompt), ResponseFactory(prompt=other)
    gold = pair_create(user=bob, left=good, right=off, source="gold", expected=good)
    vote_record(user=bob, pair_id=gold.pk, idempotency_key=uuid.uuid4(), choice="left")
    return {"alice": alice, "bob": bob, "left": left, "right": right}


def test_dpo_rows_have_the_chosen_answer_and_only_preferences(votes) -> None:
    rows = list(export_rows(kind="dpo", scope=ExportScope()))
    assert len(rows) == 3  # alice left, alice right, bob left; no tie, both-bad, gold or repeat
    first = rows[0]
    pair = votes["left"]
    assert (first["prompt"], first["chosen"], first["rejected"]) == (pair.prompt.text, pair.left.text,
                                                                    pair.right.text)
    assert (first["user_id"], first["prototype_id"], first["strength"]) == (votes["alice"].pk, 3, 3)
    second = rows[1]
    assert (second["chosen"], second["rejected"]) == (votes["right"].right.text, votes["right"].left.text)


def test_ties_and_both_bad_are_their_own_exports_never_preferences(votes) -> None:
    ties = list(export_rows(kind="ties", scope=ExportScope()))
    bad = list(export_rows(kind="both_bad", scope=ExportScope()))
    assert len(ties) == 1 and len(bad) == 1
    assert "chosen" not in ties[0] and {"response_a", "response_b"} <= set(ties[0])
    raw = list(export_rows(kind="votes", scope=ExportScope()))
    assert sorted(r["choice"] for r in raw) == ["both_bad", "left", "left", "left", "right", "right", "tie"]
    assert {r["pair_source"] for r in raw} == {"random", "repeat", "gold"}


def test_scopes_pick_one_user_or_one_prototype(votes) -> None:
    assert {r["user_id"] for r in export_rows(kind="votes", scope=ExportScope(user_id=votes["bob"].pk))} == {
        votes["bob"].pk}
    by_prototype = list(export_rows(kind="dpo", scope=ExportScope(prototype_key=3)))
    assert len(by_prototype) == 2 and {r["user_id"] for r in by_prototype} == {votes["alice"].pk}
    assert list(export_rows(kind="dpo", scope=ExportScope(prototype_key=99))) == []


def test_export_round_trip_through_datasets(votes, tmp_path: Path) -> None:
    import datasets

    written = export_write(directory=tmp_path, scope=ExportScope(), kinds=["dpo", "ties", "both_bad", "votes"],
                           dataset=True)
    assert written.rows == {"dpo": 3, "ties": 1, "both_bad": 1, "votes": 7}
    from_jsonl = datasets.load_dataset("json", data_files=str(tmp_path / "dpo.jsonl"), split="train",
                                       cache_dir=str(tmp_path / "cache"))
    assert from_jsonl.num_rows == 3
    assert {"prompt", "chosen", "rejected", "user_id", "prototype_id", "strength"} <= set(from_jsonl.column_names)
    saved = datasets.load_from_disk(str(tmp_path / "dataset"))
    assert {name: split.num_rows for name, split in saved.items()} == {"dpo": 3, "ties": 1, "both_bad": 1}
    assert saved["dpo"][0]["chosen"] == votes["left"].left.text
    assert not list(tmp_path.glob("*.partial"))


def test_management_command_writes_everything_with_a_progress_bar(votes, tmp_path: Path) -> None:
    out, err = StringIO(), StringIO()
    call_command("export_preferences", "--out", str(tmp_path), "--user", "alice", stdout=out, stderr=err)
    assert "dpo: 2 rows" in out.getvalue() and "ties: 1 rows" in out.getvalue()
    assert "export" in err.getvalue() and "row" in err.getvalue()  # tqdm's bar
    lines = (tmp_path / "votes.jsonl").read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(line)["user_id"] == votes["alice"].pk for line in lines)
    assert (tmp_path / "dataset" / "dataset_dict.json").exists()


def test_management_command_refuses_unknown_users_and_kinds(votes, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="no user"):
        call_command("export_preferences", "--out", str(tmp_path), "--user", "nobody")
    with pytest.raises(CommandError, match="unknown kinds"):
        call_command("export_preferences", "--out", str(tmp_path), "--kinds", "dpo,everything")


def test_api_export_streams_jsonl_of_my_votes(votes) -> None:
    from tests.webapp.api.conftest import token_client

    response = token_client(votes["alice"]).get("/api/v1/exports/dpo/")
    assert response.status_code == 200 and response["Content-Type"] == "application/x-ndjson"
    rows = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    assert len(rows) == 2 and {r["user_id"] for r in rows} == {votes["alice"].pk}


@pytest.mark.django_db(transaction=True)
def test_export_streams_over_the_live_asgi_server(live_asgi, settings) -> None:
    """Under ASGI the rows are read in batches as they are sent (not all into memory first)."""
    import httpx
    from rest_framework.authtoken.models import Token

    from webapp.api.views import exports

    settings.DEBUG = False
    exports.STREAM_BATCH = 2  # several batches for a few rows
    try:
        staff = UserFactory(is_staff=True)
        for _ in range(5):
            _vote(staff, "left")
        token = Token.objects.create(user=staff)
        with httpx.stream("GET", f"{live_asgi}/api/v1/exports/votes/",
                          headers={"Authorization": f"Token {token.key}"}, timeout=20) as response:
            assert response.status_code == 200
            lines = [json.loads(line) for line in response.iter_lines() if line]
    finally:
        exports.STREAM_BATCH = 500
    assert [row["choice"] for row in lines] == ["left"] * 5
