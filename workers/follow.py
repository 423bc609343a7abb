"""What follows a refit, off the refit's path: the next pairs to ask (PReF active selection), the summary
(POPI), a demo guest's panel and the presenter screen, the staff map and the ``profile.updated`` webhook.

One ``tailor.profile_follow`` task per user is queued at a time (coalesced like refits), and it works from the
profile as stored, so a burst of refits is one follow-up of the newest. The staff map is rate-limited on its own
(at most one push per ``STAFF_MAP_INTERVAL`` across all users, the last change always sent).
"""

from __future__ import annotations

import logging
import math

import torch
from django.core.cache import cache

from webapp.demos.selectors import participant_prompt_ids
from webapp.profiles import services as profile_services
from webapp.profiles.models import RewardProfile
from webapp.votes.models import Vote
from webapp.webhooks.services import webhook_emit
from workers import contracts
from workers.config import worker_config
from workers.demo_room import participant_refitted
from workers.enqueue import staff_map_send
from workers.features import bank_ensure
from workers.learning import pairs_suggest, summary_refresh
from workers.pushes import map_push, profile_push

log = logging.getLogger(__name__)

#: seconds between two pushes to open staff maps (a room of 100 voting at once moves 100 points a second)
STAFF_MAP_INTERVAL = 1.0


def profile_follow_run(*, user_id: int) -> bool:
    """Bring what follows a refit up to the stored profile; False when there is nothing to follow (no profile,
    or it is on another bank than the active one: its refit onto the new bank comes first)."""
    profile = RewardProfile.objects.filter(user_id=user_id).first()
    if profile is None or profile.version == 0 or not profile.weights:
        return False
    bank_id, bank = bank_ensure()
    if profile.bank_id != bank_id or len(profile.weights) != bank.dim:
        return False
    config = worker_config()
    weights = torch.tensor(profile.weights, dtype=torch.float64)  # (K,)
    covariance = torch.tensor(profile.covariance, dtype=torch.float64)  # (K, K)
    suggested = pairs_suggest(user_id=user_id, bank=bank, weights=weights, covariance=covariance,
                              tie_strength=config.tie_strength, seed=profile.vote_count,
                              prompt_ids=participant_prompt_ids(user_id=user_id))  # a demo guest: its session's
    stddevs = [math.sqrt(max(float(covariance[i, i]), 0.0)) for i in range(bank.dim)]
    top_id = int(profile.influential_votes[0][0]) if profile.influential_votes else None
    example = (Vote.objects.select_related("pair__prompt", "pair__left", "pair__right").filter(pk=top_id).first()
               if top_id is not None else None)
    summary = summary_refresh(profile=profile, names=bank.names_, weights=profile.weights, stddevs=stddevs,
                              example_vote=example)
    stored = profile_services.profile_follow_store(user_id=user_id, version=profile.version,
                                                   suggested_pairs=suggested, summary=summary,
                                                   summary_weights=profile.weights if summary else None)
    if not stored:
        return False  # a newer refit landed meanwhile: its own follow-up covers it
    panel = participant_refitted(user_id=user_id, bank=bank, weights=profile.weights)  # a demo guest
    if panel is not None or summary is not None:
        profile_push(user_id=user_id, version=profile.version, source="follow", demo_panel=panel)
    staff_map_throttled()
    webhook_emit(event="profile.updated", data={
        "user_id": user_id, "version": profile.version, "vote_count": profile.vote_count,
        "bank_version": bank.version, "axes": bank.names_, "weights": profile.weights})
    return True


def staff_map_throttled() -> None:
    """Push to open staff maps at most once per ``STAFF_MAP_INTERVAL``; a change inside the window schedules one
    trailing push at its end, so the map always ends on the newest points."""
    if cache.add(contracts.coalesce_key("staff_map", "window"), 1, timeout=STAFF_MAP_INTERVAL):
        map_push()
    else:
        staff_map_send(countdown=STAFF_MAP_INTERVAL)


def staff_map_run() -> None:
    """The trailing push of a throttled window."""
    cache.delete(contracts.coalesce_key(contracts.STAFF_MAP_PUSH, "all"))
    map_push()

