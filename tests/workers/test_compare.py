"""The compare job's best-of-N with the real packaged SmolLM2: two answers per contrasting style, and the answer
shown is the one the user's reward ranks first."""

from __future__ import annotations

import random

import pytest
import torch

from personalization.axes import axes_score
from personalization.degenerate import is_degenerate
from personalization.guidance import styled_candidates
from tests.factories import PromptFactory, ResponseFactory, UserFactory
from webapp.generation.models import GenerationJob
from webapp.profiles.models import RewardProfile
from workers import compare
from workers.config import worker_config
from workers.features import bank_ensure

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_best_of_n_answers_with_the_styled_candidate_the_users_reward_ranks_first(monkeypatch) -> None:
    monkeypatch.setattr(compare, "MAX_NEW_TOKENS", 24)  # short answers keep the test quick; same code path
    rng = random.Random(0)
    for _ in range(3):  # a pool to standardise the axes over
        pool_prompt = PromptFactory()
        for _ in range(4):
            ResponseFactory(
                prompt=pool_prompt, axis_scores=[rng.random() for _ in range(8)], embedding=bytes(384 * 4)
            )
    bank_id, bank = bank_ensure()
    user = UserFactory()
    weights = [
        -3.0,
        2.5,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        *([0.0] * bank.n_latent),
    ]  # wants long, structured answers
    eye = [[0.05 if a == b else 0.0 for b in range(bank.dim)] for a in range(bank.dim)]
    RewardProfile.objects.create(
        user=user,
        bank_id=bank_id,
        weights=weights,
        covariance=eye,
        vote_count=10,
        version=1,
        summary="You prefer long, structured answers.",
    )
    prompt = PromptFactory(text="How can I get better sleep?")
    job = GenerationJob.objects.create(user=user, prompt=prompt, method=GenerationJob.Method.BEST_OF_N)

    assert compare.compare_run_job(job_id=str(job.pk)) == str(job.pk)

    job.refresh_from_db()
    assert job.status == GenerationJob.Status.DONE and job.personal_text
    config = worker_config()
    generator = compare.generator_get(
        config.generator, config.model_cache_dir, config.device, config.generator_quantize
    )
    candidates = styled_candidates(
        generator,
        [{"role": "user", "content": prompt.text}],
        compare.candidate_styles(),
        24,
        seed=1,
        samples=config.best_of_style_samples,
    )  # seeded: the job's own candidates
    assert len(candidates) == 2 * len(compare.candidate_styles()) == 16
    assert len({c.strip() for c in candidates}) >= 4  # contrasting styles give different answers
    features = bank.named_features(torch.tensor([axes_score(prompt.text, c) for c in candidates]))
    rewards = features.double() @ torch.tensor(weights, dtype=torch.float64)
    clean = [i for i, c in enumerate(candidates) if not is_degenerate(c, prompt=prompt.text)] or list(range(16))
    best = candidates[max(clean, key=lambda i: float(rewards[i]))]  # degenerate candidates never win
    assert job.personal_text.strip() == best.strip()


@pytest.mark.django_db(transaction=True)
def test_a_running_job_stops_at_the_next_check_once_cancelled(monkeypatch) -> None:
    """The real worker body streams; the user cancels after the first deltas; the worker stops, writes nothing."""
    from webapp.generation.services import compare_cancel, compare_start

    user, prompt = UserFactory(), PromptFactory(text="Tell me a long story about a lighthouse keeper.")
    job = compare_start(user=user, prompt=prompt, method="summary")
    GenerationJob.objects.filter(pk=job.pk).update(status=GenerationJob.Status.RUNNING)
    monkeypatch.setattr(compare, "CANCEL_CHECK_SECONDS", 0.0)
    seen: list[str] = []

    def deltas():
        for word in ["Once ", "upon ", "a ", "time"] * 50:
            if len(seen) == 3:
                compare_cancel(job_id=str(job.pk), user_id=user.pk)
            seen.append(word)
            yield word

    with pytest.raises(compare.JobCancelled):
        compare._stream_to_group(str(job.pk), "default", deltas(), 0.0)
    assert len(seen) == 4  # stopped at the first check after the cancel, not at the end of the answer
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.CANCELLED and job.default_text == ""
