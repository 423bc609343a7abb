"""Live demo sessions, worker side: each participant's answer to the showcase prompt after their refit, the
default answer (written once per session), and the reveal's answers for the room's top prototypes.

Personalized answers here are **best-of-N over the showcase prompt's stored candidate pool**, scored by the
taste's weights (a prototype's mean, or a participant's own): deterministic and milliseconds per room, so the
reveal is instant on 2 CPU cores, where summary-conditioned generation of three answers would take ~40 s.
Only the default answer is generated (SmolLM2, once per session, ahead of the reveal) unless the pool already
holds one (style ``default``).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import torch

from personalization.bank import BaseRewardBank
from personalization.generation import SamplingConfig
from webapp.catalog.models import Response
from webapp.demos import services as demo_services
from webapp.demos.models import DemoSession, Participant
from webapp.demos.panels import participant_panel
from webapp.profiles.models import RewardProfile
from webapp.prototypes.models import Prototype
from workers.features import FeaturesMissing, bank_ensure, response_features
from workers.learning import prototypes_refit_run

log = logging.getLogger(__name__)

MAX_NEW_TOKENS = 160
REVEAL_TASTES = 3
_CANDIDATES: dict[tuple[int, int, int, int], tuple[list[int], torch.Tensor]] = {}


def _candidates(bank: BaseRewardBank, prompt_id: int) -> tuple[list[int], torch.Tensor]:
    """Ids and φ (N, K) of the prompt's scored candidates (not its default or compare answers), cached per
    process until the bank or the pool changes."""
    rows = list(Response.objects.filter(prompt_id=prompt_id).exclude(axis_scores=None).exclude(style="default")
                .exclude(style__startswith="personal").order_by("id").values_list("pk", "axis_scores"))
    key = (bank.version, prompt_id, len(rows), rows[-1][0] if rows else 0)
    if key not in _CANDIDATES:
        ids = [pk for pk, _ in rows]
        features = response_features(bank, [scores for _, scores in rows], ids) if rows else torch.zeros(0, bank.dim)
        if len(_CANDIDATES) > 64:
            _CANDIDATES.clear()
        _CANDIDATES[key] = (ids, features)
    return _CANDIDATES[key]


def best_candidate(bank: BaseRewardBank, prompt_id: int, weights: list[float]) -> tuple[int | None, float]:
    """Best-of-N: the candidate with the highest reward ``w · φ`` under ``weights`` (None without candidates)."""
    ids, features = _candidates(bank, prompt_id)
    if not ids or len(weights) != bank.dim:
        return None, 0.0
    rewards = features.double() @ torch.tensor(weights, dtype=torch.float64)  # (N,)
    best = int(torch.argmax(rewards))
    return ids[best], float(rewards[best])


def participant_refitted(*, user_id: int, bank: BaseRewardBank, weights: list[float]) -> tuple[int, str] | None:
    """After a participant's refit (``weights`` on ``bank``): pick their showcase answer, tell the presenter screen,
    and render the participant's own panel for their socket (returned as ``(participant id, html)``; rendering it
    here keeps that work off the web process, which then only forwards it). Not a participant of an open
    session: one query, nothing else."""
    row = (Participant.objects.filter(user_id=user_id).exclude(session__stage=DemoSession.Stage.CLOSED)
           .values("pk", "session_id", "session__showcase_prompt_id").first())
    if row is None:
        return None
    if row["session__showcase_prompt_id"] is not None and weights:
        try:
            best, _ = best_candidate(bank, row["session__showcase_prompt_id"], list(weights))
            demo_services.participant_showcase_set(participant_id=row["pk"], response_id=best)
        except FeaturesMissing as exc:
            log.warning("demo showcase pick for user %s skipped: %s", user_id, exc)
    demo_services.presenter_push(session_id=row["session_id"], reason="refit", rendered=True)
    panel = participant_panel(participant_id=row["pk"])
    return None if panel is None else (int(row["pk"]), panel)


def _default_answer(session: DemoSession) -> str:
    """The showcase prompt answered without personalization: the pool's own default answer, else generated."""
    if session.default_answer:
        return session.default_answer
    prompt = session.showcase_prompt
    if prompt is None:
        return ""
    stored = Response.objects.filter(prompt=prompt, style="default").values_list("text", flat=True).first()
    if stored:
        text = stored
    else:
        from workers.compare import (
            generator_get,  # heavy (transformers): only a reveal's default answer needs it
        )
        from workers.config import worker_config

        config = worker_config()
        generator = generator_get(config.generator, config.model_cache_dir, config.device,
                                  config.generator_quantize)
        sampling = SamplingConfig(max_new_tokens=MAX_NEW_TOKENS, temperature=0.7, top_p=0.9, seed=0)
        text = "".join(generator.stream([{"role": "user", "content": prompt.text}], sampling)).strip()
    demo_services.session_default_answer_store(session_id=session.pk, text=text)
    return text


def demo_prepare_run(*, session_id: int) -> bool:
    """Write the session's default answer ahead of the reveal; False when the session is gone or closed."""
    session = DemoSession.objects.select_related("showcase_prompt").filter(pk=session_id).first()
    if session is None or session.stage == DemoSession.Stage.CLOSED:
        return False
    _default_answer(session)
    return True


def _tastes(session: DemoSession, bank_id: int, dim: int) -> list[dict[str, Any]]:
    """Up to three tastes for the reveal: the room's biggest prototypes, then (while the library has too few
    prototypes for this room) the participants with the most votes outside them, each with its own weights."""
    names = dict(Participant.objects.filter(session=session).values_list("user_id", "display_name"))
    profiles = list(RewardProfile.objects.filter(user_id__in=list(names), bank_id=bank_id, vote_count__gt=0)
                    .order_by("-vote_count", "user_id").values("user_id", "weights", "prototype_id", "summary"))
    members = Counter(p["prototype_id"] for p in profiles if p["prototype_id"] is not None)
    live = {p.key: p for p in Prototype.objects.filter(key__in=list(members), bank_id=bank_id)
            .exclude(status=Prototype.Status.RETIRED)}
    tastes = [{"label": str(live[key]), "kind": "prototype", "key": key, "summary": live[key].summary,
               "members": count, "weights": live[key].mean}
              for key, count in members.most_common() if key in live and len(live[key].mean) == dim][:REVEAL_TASTES]
    covered = {t["key"] for t in tastes}
    for p in profiles:
        if len(tastes) >= REVEAL_TASTES:
            break
        if p["prototype_id"] in covered or len(p["weights"]) != dim:
            continue
        summary = p["summary"].replace("You prefer", "Prefers").split(" For example")[0]  # shown to the room
        tastes.append({"label": f"{names[p['user_id']]}'s taste", "kind": "participant", "key": None,
                       "summary": summary, "members": 1, "weights": p["weights"]})
    return tastes


def demo_reveal_run(*, session_id: int) -> str:
    """The reveal: the default answer next to the best candidate for each of the room's top tastes; stored on the
    session and pushed to the presenter screen and the room. Failures are stored too, so the screen says so."""

    session = DemoSession.objects.select_related("showcase_prompt").filter(pk=session_id).first()
    if session is None or session.stage not in (DemoSession.Stage.REVEAL, DemoSession.Stage.CLOSED):
        return "skipped"
    try:
        try:
            prototypes_refit_run()  # the room's newest votes count in the prototypes it is shown
        except Exception:  # the reveal still works from the last clustering
            log.exception("prototype refit before the reveal of session %s failed", session_id)
        bank_id, bank = bank_ensure()
        default = _default_answer(session)
        prompt_id = session.showcase_prompt_id
        answers = []
        if prompt_id is not None:
            for taste in _tastes(session, bank_id, bank.dim):
                best, reward = best_candidate(bank, prompt_id, taste.pop("weights"))
                if best is None:
                    continue
                response = Response.objects.values("text", "style").get(pk=best)
                answers.append({**taste, "text": response["text"], "style": response["style"],
                                "reward": round(reward, 3)})
        count = len(_candidates(bank, prompt_id)[0]) if prompt_id is not None else 0
        reveal: dict[str, object] = {
            "status": "done", "default": default, "answers": answers,
            "method": f"Each personalized answer is the best of the prompt's {count} stored candidates under that "
                      "taste's reward (best-of-N); the default is the model's plain answer.",
        }
    except Exception as exc:
        log.exception("reveal of session %s failed", session_id)
        reveal = {"status": "failed", "error": str(exc)[:200], "answers": []}
    demo_services.session_reveal_store(session_id=session_id, reveal=reveal)
    demo_services.presenter_push(session_id=session_id, reason="reveal", rendered=True)
    stage = DemoSession.objects.filter(pk=session_id).values_list("stage", flat=True).first()
    demo_services.room_push(session_id=session_id, stage=str(stage))
    return str(reveal["status"])
