"""Bulk import of prompts and responses: a file with bad rows is refused whole, with every bad row reported."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import PromptFactory, ResponseFactory, UserFactory
from tests.webapp.api.conftest import token_client
from webapp.api.models import ApiJob
from webapp.catalog.models import Prompt, Response


def _upload(client, name: str, content: bytes, **extra):
    return client.post("/api/v1/prompts/import/", {"file": SimpleUploadedFile(name, content), **extra},
                       format="multipart")


def _jsonl(*rows: object) -> bytes:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows).encode()


@pytest.fixture
def staff_client(db):
    return token_client(UserFactory(is_staff=True))


def test_a_file_with_bad_rows_reports_each_and_imports_nothing(staff_client) -> None:
    content = _jsonl(
        {"prompt": "What is tea?", "response": "A drink."},
        {"prompt": "What is tea?"},                                        # 2: no response
        "{not json",                                                       # 3
        {"prompt": "", "response": "x", "style": "s" * 41},                # 4: empty prompt, long style
        {"prompt": "What is tea?", "response": "A drink."},                # 5: duplicates row 1
        {"prompt": "Hi?", "response": "Hello.", "colour": "red"},          # 6: unknown field
        ["a list"],                                                        # 7
        {"prompt": "Hi?", "response": 5},                                  # 8: not text
    )
    response = _upload(staff_client, "rows.jsonl", content)
    assert response.status_code == 400
    body = response.json()
    assert "nothing was imported" in body["detail"]
    errors = {e["row"]: e["errors"] for e in body["errors"]}
    assert sorted(errors) == [2, 3, 4, 5, 6, 7, 8]
    assert errors[2] == {"response": "is required"}
    assert "not JSON" in errors[3]["row"]
    assert set(errors[4]) == {"prompt", "style"}
    assert errors[5] == {"response": "duplicates row 1"}
    assert "colour" in errors[6]["row"]
    assert errors[8] == {"response": "must be text"}
    assert not Prompt.objects.exists() and not Response.objects.exists() and not ApiJob.objects.exists()


def test_a_good_jsonl_file_is_imported_and_its_features_job_queued(staff_client, django_capture_on_commit_callbacks) -> None:
    existing = PromptFactory(text="What is tea?")
    ResponseFactory(prompt=existing, text="A drink.")
    content = _jsonl(
        {"prompt": "What is tea?", "response": "A drink."},  # already there: skipped
        {"prompt": "What is tea?", "response": "Leaves steeped in hot water.", "style": "plain"},
        {"prompt": "Why is the sky blue?", "response": "Rayleigh scattering.", "domain": "science"},
        {"prompt": "Why is the sky blue?", "response": "Blue light scatters more."},
    )
    with django_capture_on_commit_callbacks() as callbacks:
        response = _upload(staff_client, "rows.jsonl", content)
    assert response.status_code == 202, response.json()
    body = response.json()
    assert (body["prompts_created"], body["responses_created"], body["responses_skipped"]) == (1, 3, 1)
    job = ApiJob.objects.get(pk=body["features_job"]["id"])
    assert job.kind == "features" and job.total == 3 and job.status == "queued"
    assert sorted(job.params["response_ids"]) == sorted(
        Response.objects.filter(generator="import").values_list("pk", flat=True))
    assert Prompt.objects.get(text="Why is the sky blue?").source == "import"
    assert Prompt.objects.get(text="Why is the sky blue?").domain == "science"
    assert len(callbacks) == 1  # the features task, sent after the import committed
    again = _upload(staff_client, "rows.jsonl", content)  # the same file twice adds nothing
    assert again.status_code == 200 and again.json()["responses_skipped"] == 4
    assert Response.objects.count() == 4


def test_csv_is_read_by_its_header(staff_client) -> None:
    content = b'prompt,response,style\n"Hello, who are you?","I am Tailor.",plain\nWhat now?,Vote.,\n'
    response = _upload(staff_client, "rows.csv", content)
    assert response.status_code == 202
    assert Response.objects.get(text="I am Tailor.").prompt.text == "Hello, who are you?"


@pytest.mark.parametrize(("name", "content", "message"), [
    ("rows.csv", b"question,answer\nx,y\n", "header"),
    ("rows.csv", b"prompt,response\nx,y,z\n", "more cells"),
    ("rows.jsonl", b"\n\n", "no rows"),
    ("rows.jsonl", b"\xff\xfe\x00", "UTF-8"),
])
def test_unreadable_files_are_refused_with_a_reason(staff_client, name, content, message) -> None:
    response = _upload(staff_client, name, content)
    assert response.status_code == 400
    assert message in json.dumps(response.json())
    assert not Response.objects.exists()


def test_format_can_be_given_explicitly(staff_client) -> None:
    response = _upload(staff_client, "rows.txt", b"prompt,response\nA?,B.\n", format="csv")
    assert response.status_code == 202 and Response.objects.filter(text="B.").exists()


def test_imported_answers_are_not_offered_for_voting_before_they_have_features(staff_client) -> None:
    content = _jsonl({"prompt": "Tea or coffee?", "response": "Tea."}, {"prompt": "Tea or coffee?", "response": "Coffee."})
    assert _upload(staff_client, "rows.jsonl", content).status_code == 202
    voter = token_client(UserFactory())
    assert voter.get("/api/v1/pairs/next/").status_code == 204  # nothing votable yet
    Response.objects.filter(generator="import").update(axis_scores=[0.5] * 8)  # what the features worker writes
    assert voter.get("/api/v1/pairs/next/").json()["prompt"]["text"] == "Tea or coffee?"


def test_prompts_and_responses_people_voted_on_cannot_be_deleted(staff_client) -> None:
    from tests.factories import PairFactory

    pair = PairFactory()
    unused = ResponseFactory(prompt=pair.prompt)
    assert staff_client.delete(f"/api/v1/prompts/{pair.prompt_id}/").status_code == 409
    assert staff_client.delete(f"/api/v1/responses/{pair.left_id}/").status_code == 409
    assert staff_client.delete(f"/api/v1/responses/{unused.pk}/").status_code == 204
    assert Prompt.objects.filter(pk=pair.prompt_id).exists() and Response.objects.filter(pk=pair.left_id).exists()


def test_editing_a_responses_text_recomputes_its_features_but_a_label_does_not(staff_client) -> None:
    response = ResponseFactory(embedding=b"\0" * 16)
    assert staff_client.patch(f"/api/v1/responses/{response.pk}/", {"style": "terse"}, format="json").status_code == 200
    response.refresh_from_db()
    assert response.style == "terse" and response.axis_scores is not None and not ApiJob.objects.exists()
    assert staff_client.patch(f"/api/v1/responses/{response.pk}/", {"text": "New words."}, format="json").status_code == 200
    response.refresh_from_db()
    assert response.axis_scores is None and response.embedding is None
    assert ApiJob.objects.get().params == {"response_ids": [response.pk]}
