from __future__ import annotations

from webapp.demos.selectors import RoomParticipant
from webapp.demos.templatetags.demo_room import participant_chips


def test_participant_chips_escape_display_names_and_carry_vote_counts() -> None:
    html = participant_chips([RoomParticipant(user_id=7, display_name="<b>Ada</b>", votes=3),
                              RoomParticipant(user_id=9, display_name="Bob & co", votes=0)])
    assert html == ('<li data-participant="7" data-votes="3">&lt;b&gt;Ada&lt;/b&gt; <small class="muted">3</small></li>'
                    '<li data-participant="9" data-votes="0">Bob &amp; co <small class="muted">0</small></li>')
