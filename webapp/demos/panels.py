"""HTML the demo sockets receive, rendered out of band: a participant's own live panel (profile, prototype,
showcase answer) and the presenter screen's live parts. Shared by the consumers and the workers: the worker that
refits a participant renders both right after storing the refit, so the web process only forwards them."""

from __future__ import annotations

from django.conf import settings
from django.template.loader import render_to_string

from webapp.demos import selectors
from webapp.demos.models import DemoSession, Participant
from webapp.profiles.selectors import profile_get


def participant_panel(*, participant_id: int) -> str | None:
    """The participant's live panel as out-of-band swaps; None when they are gone or deactivated."""
    participant = (Participant.objects.select_related("session__showcase_prompt")
                   .filter(pk=participant_id, user__is_active=True).first())
    if participant is None:
        return None
    return render_to_string("demos/room.html#live", {
        "session": participant.session, "participant": participant, "oob": True,
        "me": selectors.participant_view(participant=participant),
        "profile": profile_get(user_id=participant.user_id,
                               confident_votes=settings.PERSONALIZATION["confident_votes"]),
    })


def presenter_session(*, session_id: int) -> DemoSession | None:
    """The session as :func:`presenter_live` renders it (with its showcase prompt)."""
    return DemoSession.objects.select_related("showcase_prompt").filter(pk=session_id).first()


def presenter_live(*, session: DemoSession) -> tuple[int, str]:
    """The presenter screen's live parts (numbers, map, participants, reveal) as out-of-band swaps, with the push
    version they show (the map's ``data-version``, as read with ``session``)."""
    html = render_to_string("demos/present.html#live", {**selectors.presenter_screen(session=session), "oob": True})
    return int(session.push_version), html
