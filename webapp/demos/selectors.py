"""Reads for live demo sessions: the room as the presenter sees it, a participant's own view, the export."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Count, Q
from django.utils import timezone

from webapp.catalog.models import Prompt, Response
from webapp.demos.models import DemoSession, Participant
from webapp.profiles.models import RewardProfile
from webapp.votes.models import Vote

#: a session made with a name alone gets this many prompts from the catalog, spread over its domains
DEFAULT_PROMPTS = 12


def can_present(*, user: User, session: DemoSession) -> bool:
    """The presenter screen and the stage buttons: the staff member who created the session (or a superuser)."""
    return bool(user.is_authenticated and user.is_active and user.is_staff
                and (session.presenter_id == user.pk or user.is_superuser))


def session_by_code(*, code: str) -> DemoSession | None:
    return DemoSession.objects.select_related("showcase_prompt").filter(code=code.upper()).first()


def participant_of(*, user: User, session: DemoSession) -> Participant | None:
    if not user.is_authenticated:
        return None
    return Participant.objects.filter(user_id=user.pk, session=session).first()


def participant_by_code(*, user: User, code: str) -> Participant | None:
    """The user's participation in the session with this code, with the session (None when not in it)."""
    if not user.is_authenticated:
        return None
    return (Participant.objects.select_related("session__showcase_prompt")
            .filter(user_id=user.pk, session__code=code.upper()).first())


def prompts_votable() -> list[Prompt]:
    """Catalog prompts with at least two scored answers (what a session can ask about)."""
    return list(Prompt.objects.annotate(n=Count("responses", filter=Q(responses__axis_scores__isnull=False)))
                .filter(n__gte=2).order_by("domain", "id"))


def prompts_default() -> list[int]:
    """Up to ``DEFAULT_PROMPTS`` votable prompts, taken round-robin across domains so a room sees variety."""
    by_domain: dict[str, list[int]] = {}
    for prompt in prompts_votable():
        by_domain.setdefault(prompt.domain, []).append(prompt.pk)
    chosen: list[int] = []
    queues = list(by_domain.values())
    while queues and len(chosen) < DEFAULT_PROMPTS:
        for queue in queues:
            if queue and len(chosen) < DEFAULT_PROMPTS:
                chosen.append(queue.pop(0))
        queues = [q for q in queues if q]
    return chosen


def showcase_default(*, prompt_ids: list[int]) -> int:
    """The prompt with the most scored candidates (most room for personalization), lowest id on ties."""
    counts = (Prompt.objects.filter(pk__in=prompt_ids)
              .annotate(n=Count("responses", filter=Q(responses__axis_scores__isnull=False)))
              .order_by("-n", "id").values_list("pk", flat=True))
    return int(counts[0])


def session_prompt_ids(*, session: DemoSession) -> set[int]:
    return set(session.prompts.values_list("pk", flat=True))


def participant_prompt_ids(*, user_id: int) -> set[int] | None:
    """The prompts a demo guest is asked about (their session's), or None for everyone else (one query; a session
    always has prompts, so none found means not a guest)."""
    prompt_ids = set(DemoSession.prompts.through.objects.filter(demosession__participants__user_id=user_id)
                     .values_list("prompt_id", flat=True))
    return prompt_ids or None


@dataclass(frozen=True)
class RoomParticipant:
    user_id: int
    display_name: str
    votes: int


@dataclass(frozen=True)
class RoomState:
    """What the presenter screen shows besides the map."""

    stage: str
    participant_count: int
    participants: list[RoomParticipant]
    votes_total: int
    votes_per_minute: int


def room_state(*, session: DemoSession) -> RoomState:
    since = timezone.now() - timedelta(minutes=1)
    participants = list(Participant.objects.filter(session=session).order_by("joined_at", "id")
                        .annotate(votes=Count("user__votes"),
                                  recent=Count("user__votes", filter=Q(user__votes__created_at__gte=since)))
                        .values_list("user_id", "display_name", "votes", "recent"))
    return RoomState(
        stage=session.stage, participant_count=len(participants),
        participants=[RoomParticipant(user_id=u, display_name=n, votes=v) for u, n, v, _ in participants],
        votes_total=sum(p[2] for p in participants), votes_per_minute=sum(p[3] for p in participants),
    )


def room_map(*, session: DemoSession, participants: list[RoomParticipant]) -> dict[str, Any]:
    """The prototypes' live map (webapp.prototypes) restricted to the room, labelled with display names.

    Its ``version`` is the session's push version, which every pushed update bumps (the map's own version is a
    sum over profiles and can stand still while the room changes, e.g. on a join)."""
    from webapp.prototypes.selectors import prototype_map

    names = {p.user_id: p.display_name for p in participants}
    data: dict[str, Any] = dict(prototype_map(user_ids=list(names), versioned=False, labels=names))
    data["version"] = session.push_version
    return data


@dataclass(frozen=True)
class ParticipantView:
    """A participant's own page: their votes so far, their prototype, their answer to the showcase prompt."""

    votes: int
    pairs_left: int
    prototype_name: str
    prototype_summary: str
    showcase_text: str
    showcase_style: str


def participant_view(*, participant: Participant) -> ParticipantView:
    from webapp.prototypes.models import Prototype

    session = participant.session
    votes = Vote.objects.filter(user_id=participant.user_id).count()
    profile = RewardProfile.objects.filter(user_id=participant.user_id).values("prototype_id").first()
    prototype = None
    if session.show_prototype and profile and profile["prototype_id"] is not None:
        prototype = Prototype.objects.filter(key=profile["prototype_id"]).first()
    showcase = (Response.objects.filter(pk=participant.showcase_response_id).values("text", "style").first()
                if participant.showcase_response_id else None)
    return ParticipantView(
        votes=votes, pairs_left=max(session.pairs_per_participant - votes, 0),
        prototype_name=str(prototype) if prototype else "", prototype_summary=prototype.summary if prototype else "",
        showcase_text=showcase["text"] if showcase else "", showcase_style=showcase["style"] if showcase else "",
    )


def session_export(*, session: DemoSession) -> dict[str, Any]:
    """Everything the session produced, as JSON: participants, their votes in the API's export format
    (``webapp.exports``: raw votes, DPO triples, ties, both-bad, each row also naming the participant), profiles,
    the room's prototypes and the reveal. Guests appear by display name and numeric id only."""
    from webapp.exports.selectors import KINDS, ExportScope, export_rows
    from webapp.prototypes.models import Prototype

    participants = list(Participant.objects.filter(session=session).order_by("joined_at", "id"))
    name_of = {p.user_id: p.display_name for p in participants}
    rows: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    for participant in participants:
        for kind in KINDS:
            rows[kind].extend({**row, "participant": participant.display_name}
                              for row in export_rows(kind=kind, scope=ExportScope(user_id=participant.user_id)))
    profiles = {p.user_id: p for p in RewardProfile.objects.filter(user_id__in=list(name_of)).select_related("bank")}
    keys = {p.prototype_id for p in profiles.values() if p.prototype_id is not None}
    return {
        "format": "tailor.demo_session/1",
        "session": {
            "name": session.name, "code": session.code, "created_at": session.created_at.isoformat(),
            "closed_at": timezone.now().isoformat(), "pairs_per_participant": session.pairs_per_participant,
            "show_prototype": session.show_prototype,
            "prompts": list(session.prompts.order_by("id").values("id", "text", "domain")),
            "showcase_prompt": session.showcase_prompt.text if session.showcase_prompt else None,
            "stages": [{"stage": c.stage, "at": c.at.isoformat()} for c in session.stage_changes.all()],
        },
        "participants": [
            {"display_name": p.display_name, "user_id": p.user_id, "joined_at": p.joined_at.isoformat(),
             "votes": sum(1 for v in rows["votes"] if v["user_id"] == p.user_id)}
            for p in participants
        ],
        **rows,
        "profiles": [
            {"participant": name_of[uid], "user_id": uid, "version": p.version, "vote_count": p.vote_count,
             "axes": list(p.bank.names) if p.bank else [], "weights": p.weights,
             "stddev": [math.sqrt(max(float(p.covariance[i][i]), 0.0)) for i in range(len(p.weights))]
             if p.covariance else [],
             "prototype_key": p.prototype_id, "prototype_confidence": p.prototype_confidence, "summary": p.summary}
            for uid, p in profiles.items()
        ],
        "prototypes": [
            {"key": proto.key, "name": str(proto), "summary": proto.summary, "mean": proto.mean,
             "members_in_room": sum(1 for p in profiles.values() if p.prototype_id == proto.key)}
            for proto in Prototype.objects.filter(key__in=keys)
        ],
        "reveal": {"default_answer": session.default_answer, **(session.reveal or {})},
    }


STAGE_ACTIONS = {"lobby": "Start voting", "voting": "Reveal the answers", "reveal": "Close the session"}


def presenter_stats(*, session: DemoSession) -> dict[str, Any]:
    """The presenter's numbers and stage button only (the periodic refresh; no map)."""
    return {"session": session, "room": room_state(session=session), "next_action": STAGE_ACTIONS.get(session.stage),
            "next_stage": session.next_stage}


def presenter_screen(*, session: DemoSession) -> dict[str, Any]:
    """Everything the presenter screen's live parts render (the page and every pushed update)."""
    room = room_state(session=session)
    return {"session": session, "room": room, "map": room_map(session=session, participants=room.participants),
            "next_action": STAGE_ACTIONS.get(session.stage), "next_stage": session.next_stage,
            "reveal": session.reveal or {}}
