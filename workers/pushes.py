"""What workers push to open pages, typed by ``workers.contracts``. A leaf: the refit, its followers and the
clustering jobs all push through here, so none of them imports another to reach a page."""

from __future__ import annotations

from typing import Literal

from webapp.live import group_send
from workers import contracts


def profile_push(*, user_id: int, version: int, source: Literal["refit", "follow", "prototypes"],
                 demo_panel: tuple[int, str] | None = None) -> None:
    """Tell the user's open pages that their profile changed; consumers re-read and render it. ``source``: what
    changed it (a demo participant's phone waits for the follower's push, which brings its rendered panel)."""
    message = contracts.ProfileUpdated(type="profile.updated", user_id=user_id, version=version, source=source)
    if demo_panel is not None:
        message["participant_id"], message["demo_panel"] = demo_panel
    group_send(contracts.user_group(user_id), dict(message))


def review_send(event: contracts.ReviewChanged | contracts.ReviewProgress) -> None:
    group_send(contracts.STAFF_PROTOTYPES_GROUP, dict(event))


def progress_push(*, job: Literal["refit", "split"], stage: str, done: int, total: int) -> None:
    review_send(contracts.ReviewProgress(type="prototypes.progress", job=job, stage=stage, done=done, total=total))


def map_push() -> None:
    """A profile changed: open review maps re-render (the consumer coalesces bursts)."""
    review_send(contracts.ReviewChanged(type="prototypes.map"))
