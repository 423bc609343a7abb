"""HTML a participant's socket receives: their own live panel (profile, prototype, showcase answer), rendered
out of band. Shared by the participant consumer and the worker that refits the participant, which renders it
right after storing the refit so the web process only forwards it."""

from __future__ import annotations

from django.conf import settings
from django.template.loader import render_to_string

from webapp.demos import selectors
from webapp.demos.models import Participant
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
