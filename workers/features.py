"""The leaf every worker module shares: response features φ under a bank, vote outcome coding, the encoder and
the active bank. It imports no other ``workers`` module except ``config`` (so no import cycle can pass through it).
"""

from __future__ import annotations

from functools import lru_cache

import torch
from django.db import IntegrityError

from personalization.bank import BaseRewardBank
from personalization.encoder import EncoderConfig, SentenceEncoder
from personalization.user_model import OUTCOME_FIRST, OUTCOME_SECOND, OUTCOME_TIE
from webapp.catalog.models import Prompt, Response
from webapp.profiles import selectors as profile_selectors
from webapp.profiles import services as profile_services
from webapp.votes.models import Vote
from workers.config import worker_config

#: a stored vote's choice → the library's outcome code ("both bad" carries no preference: absent)
OUTCOME: dict[str, int] = {Vote.Choice.LEFT: OUTCOME_FIRST, Vote.Choice.RIGHT: OUTCOME_SECOND,
                           Vote.Choice.TIE: OUTCOME_TIE}
#: strength of preference → likelihood weight (slight, clear, strong)
STRENGTH_WEIGHT: dict[int, float] = {1: 0.5, 2: 1.0, 3: 1.5}


class FeaturesMissing(RuntimeError):
    """Some voted responses have no features yet; the refit is deferred (the reconciler tries again)."""


def embedding_from_bytes(raw: bytes | memoryview) -> torch.Tensor:
    """(d,) float32 embedding from its stored bytes (a copy: the database buffer is read-only)."""
    return torch.frombuffer(bytearray(bytes(raw)), dtype=torch.float32)


def bank_ensure() -> tuple[int, BaseRewardBank]:
    """The active bank; version 1 (standardised named axes over the pool) is created on first use."""
    row = profile_selectors.bank_active()
    if row is not None:
        return row.pk, BaseRewardBank.from_state(row.state)
    scores = list(Response.objects.exclude(axis_scores=None).values_list("axis_scores", flat=True))
    if not scores:
        raise FeaturesMissing("no response has features yet: load the demo data or run the features job")
    bank = BaseRewardBank(version=1, encoder=worker_config().encoder).fit_axes(torch.tensor(scores))
    try:
        row = profile_services.bank_activate(
            version=1, encoder=bank.encoder, names=bank.names_, state=bank.to_state(),
            notes="named axes standardised over the response pool",
        )
    except IntegrityError:
        # Another worker process wrote version 1 since the check above (a room's first votes are refitted in
        # parallel): use theirs rather than lose this refit.
        row = profile_selectors.bank_active()
        if row is None:
            raise
        return row.pk, BaseRewardBank.from_state(row.state)
    return row.pk, bank


def response_features(bank: BaseRewardBank, scores: list[list[float] | None], response_ids: list[int]) -> torch.Tensor:
    """φ (N, K) from stored axis scores; embeddings are read only when the bank has latent bases."""
    if any(row is None for row in scores):
        raise FeaturesMissing("a voted response has no axis scores yet")
    axes = torch.tensor(scores, dtype=torch.float32)  # (N, A)
    if bank.n_latent == 0:
        return bank.features(axes)
    stored = dict(Response.objects.filter(pk__in=set(response_ids)).values_list("pk", "embedding"))
    raw = [b for pk in response_ids if (b := stored.get(pk)) is not None]
    if len(raw) != len(response_ids):
        raise FeaturesMissing("a voted response has no embedding yet")
    embeddings = torch.stack([embedding_from_bytes(b) for b in raw])  # (N, d)
    return bank.features(axes, embeddings)


@lru_cache(maxsize=2)
def encoder_get(model_path: str, device: str) -> SentenceEncoder:
    """One encoder per worker process: loading it is the expensive part."""
    return SentenceEncoder(EncoderConfig(model_path=model_path, device=device))


def responses_with_features(*, prompt: Prompt, answers: list[tuple[str, str]]) -> list[Response]:
    """Store answers ``(text, style)`` to ``prompt`` with their axis scores and embeddings, encoded in one batch:
    features are computed once per response, when it is written."""
    from personalization.axes import axes_score

    config = worker_config()
    texts = [text for text, _ in answers]
    vectors = encoder_get(config.encoder, config.device).encode([prompt.text] * len(texts), texts)  # (N, d)
    return [
        Response.objects.create(prompt=prompt, text=text, style=style, generator=config.generator,
                                axis_scores=axes_score(prompt.text, text), embedding=vector.numpy().tobytes(),
                                encoder=config.encoder)
        for (text, style), vector in zip(answers, vectors, strict=True)
    ]
