"""Score and personalize: 202 with a job, a real worker does the work, the job reports progress and results."""

from __future__ import annotations

import json
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.conftest import wait_until
from tests.factories import PromptFactory, ResponseFactory, UserFactory
from tests.webapp.api.conftest import token_client
from webapp.api.models import ApiJob
from webapp.catalog.models import Response
from webapp.generation.models import GenerationJob
from webapp.profiles.models import RewardProfile
from webapp.votes import services
from workers.refit import profile_refit_run

SHORT, LONG = "Paris.", ("The capital of France is Paris, a city on the Seine that has been the seat of government "
                         "for centuries, and it is also the largest city in the country by population.")


def _brevity_lover() -> object:
    """A user whose fitted profile prefers the answer with the higher brevity score (axis 0)."""
    user = UserFactory()
    for i in range(8):
        prompt = PromptFactory()
        short = ResponseFactory(prompt=prompt, axis_scores=[0.9, *([0.5] * 7)])
        long = ResponseFactory(prompt=prompt, axis_scores=[0.1, *([0.5] * 7)])
        left, right = (short, long) if i % 2 else (long, short)
        pair = services.pair_create(user=user, left=left, right=right, source="random")
        services.vote_record(user=user, pair_id=pair.pk, idempotency_key=uuid.uuid4(),
                             choice="left" if left is short else "right")
    profile_refit_run(user_id=user.pk)
    return user


@pytest.mark.django_db(transaction=True)
def test_score_is_the_users_reward_computed_by_a_worker(celery_worker_live) -> None:
    import torch

    from personalization.axes import axes_score
    from personalization.bank import BaseRewardBank

    user = _brevity_lover()
    client = token_client(user)
    started = client.post("/api/v1/score/", {"prompt": "What is the capital of France?", "answers": [LONG, SHORT]},
                          format="json")
    assert started.status_code == 202 and started.json()["status"] == "queued"
    url = started.json()["url"]
    assert wait_until(lambda: client.get(url).json()["status"] == "done", timeout=30)
    job = client.get(url).json()
    assert job["progress"] == 1.0 and (job["done"], job["total"]) == (2, 2)
    profile = RewardProfile.objects.select_related("bank").get(user=user)
    bank = BaseRewardBank.from_state(profile.bank.state)
    features = bank.features(torch.tensor([axes_score("What is the capital of France?", a) for a in (LONG, SHORT)]))
    expected = (features @ torch.tensor(profile.weights, dtype=torch.float32)).tolist()
    rewards = [s["reward"] for s in job["result"]["scores"]]
    assert rewards == pytest.approx(expected, abs=1e-4)
    assert rewards[1] > rewards[0]  # this user prefers the short answer
    assert job["result"]["profile_version"] == profile.version
    assert sum(job["result"]["scores"][1]["axes"].values()) == pytest.approx(rewards[1], abs=1e-4)


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "field"), [
    ({"prompt": "Hi?", "answers": []}, "answers"),
    ({"prompt": "Hi?", "answers": ["x"] * 17}, "answers"),
    ({"prompt": "", "answers": ["x"]}, "prompt"),
    ({"prompt": "Hi?", "answers": ["x" * 20001]}, "answers"),
    ({"answers": ["x"]}, "prompt"),
])
def test_bad_score_requests_are_refused_and_start_nothing(body, field) -> None:
    user = UserFactory()
    RewardProfile.objects.create(user=user, version=1, weights=[0.0] * 8)
    response = token_client(user).post("/api/v1/score/", body, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not ApiJob.objects.exists()


@pytest.mark.django_db
def test_personalize_starts_a_dispatched_job_with_its_stream(django_capture_on_commit_callbacks) -> None:
    user, prompt = UserFactory(), PromptFactory()
    client = token_client(user)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post("/api/v1/personalize/", {"prompt_id": prompt.pk, "method": "best_of_n"},
                               format="json")
    assert response.status_code == 202
    body = response.json()
    job = GenerationJob.objects.get(pk=body["id"])
    assert job.user == user and job.method == "best_of_n" and job.dispatched_at is not None
    assert body["stream_url"] == f"/ws/jobs/{job.pk}/" and body["progress"] == 0.0
    assert len(callbacks) == 2  # sent to an interactive worker once committed, then the queue positions pushed
    assert client.get(body["url"]).json()["status"] == "queued"
    assert client.post("/api/v1/personalize/", {"prompt_id": 10**9}, format="json").status_code == 404
    both = client.post("/api/v1/personalize/", {"prompt_id": prompt.pk, "prompt": "x"}, format="json")
    assert both.status_code == 400


@pytest.mark.django_db
def test_personalize_refuses_a_fourth_running_job() -> None:
    user, prompt = UserFactory(), PromptFactory()
    client = token_client(user)
    codes = [client.post("/api/v1/personalize/", {"prompt_id": prompt.pk}, format="json").status_code
             for _ in range(4)]
    assert codes == [202, 202, 202, 409]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_imported_responses_get_features_from_a_worker(celery_worker_live) -> None:
    """Real MiniLM in the worker: imported answers get axis scores and an embedding, so they join voting."""
    staff = token_client(UserFactory(is_staff=True))
    rows = [{"prompt": "How do I boil an egg?", "response": text} for text in
            ("Put it in boiling water for 9 minutes.", "Boil water. Add the egg. Wait nine minutes. Cool it.",
             "Honestly? Just google it, friend!")]
    content = "\n".join(json.dumps(r) for r in rows).encode()
    started = staff.post("/api/v1/prompts/import/", {"file": SimpleUploadedFile("r.jsonl", content)},
                         format="multipart")
    assert started.status_code == 202
    url = started.json()["features_job"]["url"]
    assert wait_until(lambda: staff.get(url).json()["status"] in ("done", "failed"), timeout=240)
    job = staff.get(url).json()
    assert job["status"] == "done" and job["result"] == {"responses_with_features": 3}
    imported = list(Response.objects.filter(generator="import"))
    assert len(imported) == 3 and all(r.has_features and len(r.axis_scores) == 8 for r in imported)
    assert {len(bytes(r.embedding)) for r in imported} == {384 * 4}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_personalize_is_written_by_a_real_gpu_worker(celery_worker_live) -> None:
    """Real SmolLM2 in the worker: a script starts a personalized answer and polls it until both texts are there
    and the pair is votable."""
    user = _brevity_lover()
    client = token_client(user)
    started = client.post("/api/v1/personalize/", {"prompt": "Name one fruit.", "method": "summary"}, format="json")
    assert started.status_code == 202
    url = started.json()["url"]
    assert wait_until(lambda: client.get(url).json()["status"] in ("done", "failed"), timeout=280, interval=0.5)
    job = client.get(url).json()
    assert job["status"] == "done", job["error"]
    assert job["default_text"] and job["personal_text"] and job["progress"] == 1.0
    if job["default_text"] != job["personal_text"]:
        assert job["pair"] is not None  # the two answers became a pair the user can vote on


@pytest.mark.django_db
def test_personalize_is_not_refused_for_jobs_that_were_lost() -> None:
    from datetime import timedelta

    from django.utils import timezone

    user, prompt = UserFactory(), PromptFactory()
    for _ in range(3):
        GenerationJob.objects.create(user=user, prompt=prompt, attempts=1, dispatched_at=timezone.now(),
                                     heartbeat_at=timezone.now() - timedelta(minutes=10))
    response = token_client(user).post("/api/v1/personalize/", {"prompt_id": prompt.pk}, format="json")
    assert response.status_code == 202, response.json()
