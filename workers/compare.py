"""Default vs personalized answers, streamed: runs in a ``gpu`` worker (CUDA when present, CPU here, same code).

Each text delta goes to the Channels group ``job.<id>``; the page's consumer turns it into an out-of-band append.
When both answers are written, they become a pair the user can vote on, and the "why" panel shows which named
axes the personalized answer gains on under the user's weights.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from functools import lru_cache

import torch
from django.conf import settings
from django.utils import timezone

from personalization.axes import AXIS_NAMES, axes_score
from personalization.bank import BaseRewardBank
from personalization.generation import Generator, GeneratorConfig, SamplingConfig
from personalization.guidance import GuidanceConfig, GuidedDecoder, Style, best_of_styles, styles_read
from personalization.summaries import summary_from_weights, summary_messages
from webapp.generation.models import GenerationJob
from webapp.live import group_send
from webapp.profiles.models import RewardProfile
from webapp.votes import services as vote_services
from workers.config import worker_config
from workers.features import bank_ensure, responses_with_features
from workers.job_heartbeat import job_heartbeat
from workers.posterior import user_posterior

log = logging.getLogger(__name__)

MAX_NEW_TOKENS = 160
DELTA_FLUSH_SECONDS = 0.05  # coalesce deltas: fewer websocket frames, same text
CANCEL_CHECK_SECONDS = 0.25  # one indexed status read this often while streaming: a cancelled job stops soon


class JobCancelled(Exception):
    """The job's user cancelled it (``compare_cancel``) while it ran."""


def _check_cancelled(job_id: str) -> None:
    status = GenerationJob.objects.filter(pk=job_id).values_list("status", flat=True).first()
    if status != GenerationJob.Status.RUNNING:
        raise JobCancelled(job_id)


@lru_cache(maxsize=1)
def generator_get(model_path: str, cache_dir: str, device: str, quantize: str = "none") -> Generator:
    """One generator per worker process (loading is the expensive part)."""
    threads = worker_config().torch_threads
    if threads:
        torch.set_num_threads(threads)
    return Generator(
        GeneratorConfig(model_path=model_path, cache_dir=cache_dir, device=device, quantize=quantize)
    )


@lru_cache(maxsize=1)
def candidate_styles() -> tuple[Style, ...]:
    """The demo library's contrasting styles (``prompts.json``): best-of-N's candidates and a new prompt's pool."""
    return styles_read(settings.TAILOR_DEMO_DIR / "prompts.json")


def _send(job_id: str, message: dict[str, object]) -> None:
    group_send(f"job.{job_id}", message)


def _stream_to_group(
    job_id: str, side: str, deltas: Iterator[str], started: float
) -> tuple[str, float | None]:
    text, pending, first_ms, last_flush = "", "", None, time.monotonic()
    last_check = last_flush
    for delta in deltas:
        if time.monotonic() - last_check >= CANCEL_CHECK_SECONDS:
            _check_cancelled(job_id)
            last_check = time.monotonic()
        if not delta:
            continue
        if first_ms is None:
            first_ms = (time.monotonic() - started) * 1000
        text += delta
        pending += delta
        if time.monotonic() - last_flush >= DELTA_FLUSH_SECONDS:
            _send(job_id, {"type": "job.delta", "job_id": job_id, "side": side, "text": pending})
            pending, last_flush = "", time.monotonic()
    if pending:
        _send(job_id, {"type": "job.delta", "job_id": job_id, "side": side, "text": pending})
    return text.strip(), first_ms


def _user_reward(profile: RewardProfile | None, bank: BaseRewardBank) -> torch.Tensor | None:
    if profile is None or not profile.weights or len(profile.weights) != bank.dim:
        return None
    return torch.tensor(profile.weights, dtype=torch.float32)


def reward_scores(
    *, profile: RewardProfile, bank_id: int, bank: BaseRewardBank, features: torch.Tensor
) -> torch.Tensor:
    """(M,) the user's reward of candidate answers ``features`` (M, K), for best-of-N.

    With prototypes on this bank: P-GenRM's dual-granularity test-time scaling — the individual level averages
    posterior samples of the user's weights, the prototype level the user's prototypes and their members nearest
    to the user, blended by how confident the user's votes make the model. Before the first clustering: the
    stored weights. Seeded, so the same candidates always rank the same way.
    """
    from personalization.scaling import dual_granularity_score

    fitted = user_posterior(
        user_id=profile.user_id, bank_id=bank_id, bank=bank, up_to_id=profile.fitted_vote_id, profile=profile
    )
    if fitted.prototypes is None or fitted.posterior is None:
        return features.double() @ torch.tensor(profile.weights, dtype=torch.float64)
    return dual_granularity_score(
        features,
        posterior=fitted.posterior,
        prototypes=fitted.prototypes,
        individual=fitted.individual,
        generator=torch.Generator().manual_seed(0),
    )


def _features(bank: BaseRewardBank, prompt: str, texts: list[str]) -> torch.Tensor:
    """(N, K) φ of freshly generated answers: named axes only (``BaseRewardBank.named_features``)."""
    scores = torch.tensor([axes_score(prompt, t) for t in texts], dtype=torch.float32)  # (N, A)
    return bank.named_features(scores)


def compare_run_job(*, job_id: str) -> str | None:
    """Write both answers of one job, streaming them; idempotent (a job is claimed once)."""
    claimed = GenerationJob.objects.filter(pk=job_id, status=GenerationJob.Status.QUEUED).update(
        status=GenerationJob.Status.RUNNING, heartbeat_at=timezone.now()
    )
    if claimed != 1:
        return None  # already running or done elsewhere, or deleted
    from webapp.generation.services import queue_positions_push

    queue_positions_push()  # one job fewer waits
    job = GenerationJob.objects.select_related("prompt", "user").get(pk=job_id)
    started = time.monotonic()
    try:
        with job_heartbeat(GenerationJob, job_id):  # the sweeper re-sends a job whose worker died
            return _run(job, started)
    except JobCancelled:
        log.info("generation job %s cancelled by its user", job_id)
        return None  # compare_cancel already pushed job.done
    except Exception as exc:  # the page must hear about any failure; the task still records it
        log.exception("generation job %s failed", job_id)
        GenerationJob.objects.filter(pk=job_id).update(
            status=GenerationJob.Status.FAILED, error=str(exc)[:300], finished_at=timezone.now()
        )
        _send(job_id, {"type": "job.done", "job_id": job_id})
        raise


def _run(job: GenerationJob, started: float) -> str:
    config = worker_config()
    generator = generator_get(
        config.generator, config.model_cache_dir, config.device, config.generator_quantize
    )
    bank_id, bank = bank_ensure()
    profile = RewardProfile.objects.filter(user=job.user).first()
    weights = _user_reward(profile, bank)
    names = bank.names_
    if profile is not None and profile.summary:
        summary_text = profile.summary
    elif weights is not None and profile is not None:
        stds = [max(float(profile.covariance[i][i]), 0.0) ** 0.5 for i in range(len(names))]
        summary_text = summary_from_weights(names, weights.tolist(), stds).text
    else:
        summary_text = ""
    prompt = job.prompt.text
    messages = [{"role": "user", "content": prompt}]
    sampling = SamplingConfig(max_new_tokens=MAX_NEW_TOKENS, temperature=0.7, top_p=0.9, seed=0)
    job_id = str(job.pk)

    default_text, first_ms = _stream_to_group(
        job_id, "default", generator.stream(messages, sampling), started
    )

    def score_fn(prompt_text: str, texts: list[str]) -> list[float]:
        if weights is None or profile is None:
            return [0.0] * len(texts)
        return reward_scores(
            profile=profile, bank_id=bank_id, bank=bank, features=_features(bank, prompt_text, texts)
        ).tolist()

    if job.method == GenerationJob.Method.BEST_OF_N:
        # answers in contrasting styles, none longer than the default, ranked by the user's reward: the method
        # the win-rate benchmark measures best (styled-best-of-n; 2 samples per style by default)
        ranked = best_of_styles(
            generator,
            messages,
            candidate_styles(),
            MAX_NEW_TOKENS,
            score_fn,
            seed=1,
            samples=config.best_of_style_samples,
        )
        # already written: streamed word by word so the page reads the same for every method
        personal_deltas: Iterator[str] = iter(re.findall(r"\S+\s*", ranked.best))
    elif job.method == GenerationJob.Method.GUIDED and summary_text:
        decoder = GuidedDecoder(generator, GuidanceConfig())
        personal_deltas = decoder.stream(messages, summary_text, sampling)
    else:
        conditioned = summary_messages(messages, summary_text) if summary_text else messages
        personal_deltas = generator.stream(conditioned, sampling)
    _check_cancelled(job_id)  # best-of-N writes all its candidates before the first delta
    personal_text, _ = _stream_to_group(job_id, "personal", personal_deltas, started)
    _check_cancelled(job_id)

    why: list[dict[str, object]] = []
    pair_id = None
    if default_text and personal_text and default_text != personal_text:
        features = _features(bank, prompt, [default_text, personal_text])  # (2, K)
        if weights is not None:
            gain = weights * (features[1] - features[0])  # (K,)
            why = [
                {"axis": names[k], "contribution": round(float(gain[k]), 3)} for k in range(len(AXIS_NAMES))
            ]
            why.sort(key=lambda row: -abs(float(row["contribution"])))  # type: ignore[arg-type]
        pair_id = _votable_pair(job, default_text, personal_text)
    GenerationJob.objects.filter(pk=job.pk, status=GenerationJob.Status.RUNNING).update(
        status=GenerationJob.Status.DONE,
        default_text=default_text,
        personal_text=personal_text,
        summary_used=summary_text,
        why=why,
        pair_id=pair_id,
        first_token_ms=round(first_ms) if first_ms is not None else None,
        finished_at=timezone.now(),
    )
    _send(job_id, {"type": "job.done", "job_id": job_id})
    return job_id


def _votable_pair(job: GenerationJob, default_text: str, personal_text: str) -> int:
    """Store both answers with their features and show them to the user as a pair (sides randomised)."""
    import random

    responses = responses_with_features(
        prompt=job.prompt, answers=[(default_text, "default"), (personal_text, f"personal:{job.method}")]
    )
    random.shuffle(responses)
    pair = vote_services.pair_create(user=job.user, left=responses[0], right=responses[1], source="compare")
    return pair.pk
