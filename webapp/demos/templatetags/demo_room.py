"""The presenter screen's participant chips as one string: a room of a hundred is re-rendered after every refit,
and a template loop localising each number (or format_html escaping each one) was a large part of that render."""

from __future__ import annotations

import html
from collections.abc import Iterable

from django import template
from django.utils.safestring import SafeString, mark_safe

from webapp.demos.selectors import RoomParticipant

register = template.Library()


@register.simple_tag
def participant_chips(participants: Iterable[RoomParticipant]) -> SafeString:
    """One ``<li>`` per participant: display name (escaped) and vote count."""
    return mark_safe("".join(  # the names are escaped, the rest are integers
        f'<li data-participant="{int(p.user_id)}" data-votes="{int(p.votes)}">{html.escape(p.display_name)} '
        f'<small class="muted">{int(p.votes)}</small></li>' for p in participants))
