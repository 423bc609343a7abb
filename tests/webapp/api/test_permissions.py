"""Every endpoint × anonymous / user A / user B / staff: who gets what status code."""

from __future__ import annotations

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import PairFactory, PromptFactory, ResponseFactory
from webapp.api.models import ApiJob
from webapp.generation.models import GenerationJob
from webapp.profiles.models import RewardProfile
from webapp.profiles.services import bank_activate
from webapp.prototypes.models import Prototype
from webapp.votes.services import vote_record
from webapp.webhooks.models import WebhookDelivery, WebhookEndpoint

AXES = ["brevity", "structure", "formality", "warmth", "humour", "technical_depth", "caution", "confidence"]


def _world(callers) -> dict[str, object]:
    """A little of everything, owned by alice where ownership matters."""
    alice = callers["alice"].user
    prompt = PromptFactory()
    ResponseFactory.create_batch(3, prompt=prompt)
    voted = PairFactory(user=alice)
    vote = vote_record(user=alice, pair_id=voted.pk, idempotency_key=uuid.uuid4(), choice="left").vote
    pending = PairFactory(user=alice)
    bank = bank_activate(version=1, encoder="test", names=AXES, state={})
    RewardProfile.objects.create(user=alice, bank=bank, weights=[0.1] * 8, version=1, vote_count=1,
                                 covariance=[[float(i == j) for j in range(8)] for i in range(8)])
    prototype = Prototype.objects.create(key=1, name="concise", mean=[0.0] * 8, size=1)
    endpoint = WebhookEndpoint.objects.create(url="http://127.0.0.1:9/hook", events=["vote.created"])
    WebhookDelivery.objects.create(endpoint=endpoint, event="vote.created", body="{}")
    return {
        "prompt": prompt.pk, "response": prompt.responses.first().pk, "vote": vote.pk, "pending": pending.pk,
        "alice": alice.pk, "prototype": prototype.pk, "endpoint": endpoint.pk,
        "job": ApiJob.objects.create(user=alice, kind="score", total=2).pk,
        "generation": GenerationJob.objects.create(user=alice, prompt=prompt).pk,
    }


def _import_file() -> dict[str, object]:
    content = b'{"prompt": "Imported prompt?", "response": "An imported answer."}\n'
    return {"file": SimpleUploadedFile("rows.jsonl", content, content_type="application/x-ndjson")}


#: (method, path, body, expected status for anonymous, alice, bob, staff)
CASES = [
    ("get", "/api/v1/prompts/", None, (401, 200, 200, 200)),
    ("post", "/api/v1/prompts/", {"text": "A brand new prompt?"}, (401, 403, 403, 201)),
    ("get", "/api/v1/prompts/{prompt}/", None, (401, 200, 200, 200)),
    ("patch", "/api/v1/prompts/{prompt}/", {"domain": "edited"}, (401, 403, 403, 200)),
    ("delete", "/api/v1/prompts/{prompt}/", None, (401, 403, 403, 204)),
    ("post", "/api/v1/prompts/import/", "import", (401, 403, 403, 202)),
    ("get", "/api/v1/responses/", None, (401, 200, 200, 200)),
    ("post", "/api/v1/responses/", {"prompt": "{prompt}", "text": "Another answer."}, (401, 403, 403, 201)),
    ("get", "/api/v1/responses/{response}/", None, (401, 200, 200, 200)),
    ("patch", "/api/v1/responses/{response}/", {"style": "terse"}, (401, 403, 403, 200)),
    ("delete", "/api/v1/responses/{response}/", None, (401, 403, 403, 204)),
    ("get", "/api/v1/pairs/next/", None, (401, 200, 200, 200)),
    ("get", "/api/v1/votes/", None, (401, 200, 200, 200)),
    ("get", "/api/v1/votes/{vote}/", None, (401, 200, 404, 200)),
    ("post", "/api/v1/votes/", {"pair": "{pending}", "choice": "right"}, (401, 201, 409, 409)),
    ("get", "/api/v1/profile/", None, (401, 200, 200, 200)),
    ("get", "/api/v1/profiles/", None, (401, 403, 403, 200)),
    ("get", "/api/v1/profiles/{alice}/", None, (401, 200, 404, 200)),
    ("get", "/api/v1/summary/", None, (401, 200, 200, 200)),
    ("put", "/api/v1/summary/", {"summary": "I like short answers."}, (401, 200, 200, 200)),
    ("get", "/api/v1/prototypes/", None, (401, 403, 403, 200)),
    ("get", "/api/v1/prototypes/{prototype}/", None, (401, 403, 403, 200)),
    ("post", "/api/v1/score/", {"prompt": "Hi?", "answers": ["Hello.", "Hi there, friend!"]}, (401, 202, 409, 409)),
    ("get", "/api/v1/jobs/", None, (401, 200, 200, 200)),
    ("get", "/api/v1/jobs/{job}/", None, (401, 200, 404, 200)),
    ("post", "/api/v1/personalize/", {"prompt_id": "{prompt}", "method": "summary"}, (401, 202, 202, 202)),
    ("get", "/api/v1/personalize/", None, (401, 200, 200, 200)),
    ("get", "/api/v1/personalize/{generation}/", None, (401, 200, 404, 200)),
    ("get", "/api/v1/exports/dpo/", None, (401, 200, 200, 200)),
    ("get", "/api/v1/exports/votes/?user={alice}", None, (401, 200, 403, 200)),
    ("get", "/api/v1/exports/dpo/?prototype=1", None, (401, 403, 403, 200)),
    ("get", "/api/v1/quality/voters/", None, (401, 403, 403, 200)),
    ("get", "/api/v1/quality/prototypes/", None, (401, 403, 403, 200)),
    ("get", "/api/v1/webhooks/", None, (401, 403, 403, 200)),
    ("post", "/api/v1/webhooks/", {"url": "http://127.0.0.1:9/in", "events": ["vote.created"]}, (401, 403, 403, 201)),
    ("get", "/api/v1/webhooks/{endpoint}/", None, (401, 403, 403, 200)),
    ("delete", "/api/v1/webhooks/{endpoint}/", None, (401, 403, 403, 204)),
    ("get", "/api/v1/webhook-deliveries/", None, (401, 403, 403, 200)),
    ("post", "/api/v1/auth/token/", {"username": "alice", "password": "correct-horse-battery"}, (200, 200, 200, 200)),
    ("get", "/api/schema/", None, (200, 200, 200, 200)),
    ("get", "/api/docs/", None, (200, 200, 200, 200)),
    ("get", "/api/redoc/", None, (200, 200, 200, 200)),
]
CALLERS = ("anonymous", "alice", "bob", "staff")


def _fill(value: object, world: dict[str, object]) -> object:
    if isinstance(value, str) and value.startswith("{") and value.endswith("}") and value[1:-1] in world:
        return world[value[1:-1]]
    return value


@pytest.mark.django_db
@pytest.mark.parametrize("caller_name", CALLERS)
@pytest.mark.parametrize(("method", "path", "body", "expected"), CASES,
                         ids=[f"{m.upper()} {p}" for m, p, _, _ in CASES])
def test_endpoint_answers_each_caller_as_allowed(callers, caller_name, method, path, body, expected) -> None:
    world = _world(callers)
    client = callers[caller_name].client
    url = path.format(**world)
    kwargs: dict[str, object] = {}
    if body == "import":
        kwargs = {"data": _import_file(), "format": "multipart"}
    elif body is not None:
        kwargs = {"data": {k: _fill(v, world) for k, v in body.items()}, "format": "json"}
    if method == "post" and path == "/api/v1/votes/":
        kwargs["HTTP_IDEMPOTENCY_KEY"] = str(uuid.uuid4())
    response = getattr(client, method)(url, **kwargs)
    assert response.status_code == expected[CALLERS.index(caller_name)], getattr(response, "data", response)


@pytest.mark.django_db
def test_users_list_only_their_own_votes_and_staff_list_everyones(callers) -> None:
    world = _world(callers)
    listed = {name: [v["id"] for v in callers[name].client.get("/api/v1/votes/").json()["results"]]
              for name in ("alice", "bob", "staff")}
    assert listed["alice"] == [world["vote"]]
    assert listed["bob"] == []
    assert world["vote"] in listed["staff"]
    filtered = callers["staff"].client.get(f"/api/v1/votes/?user={callers['bob'].user.pk}").json()["results"]
    assert filtered == []


@pytest.mark.django_db
def test_a_user_exports_only_their_own_votes(callers) -> None:
    world = _world(callers)
    bob_pair = PairFactory(user=callers["bob"].user)
    vote_record(user=callers["bob"].user, pair_id=bob_pair.pk, idempotency_key=uuid.uuid4(), choice="right")
    body = b"".join(callers["alice"].client.get("/api/v1/exports/votes/").streaming_content).decode()
    users = {line.split('"user_id": ')[1].split(",")[0] for line in body.splitlines()}
    assert users == {str(world["alice"])}
