"""Writes for live demo sessions: create, join (guest accounts), advance stages, close with an export, expire,
and push to the presenter screen and the room."""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from webapp.catalog.models import Prompt
from webapp.demos import selectors
from webapp.demos.codes import code_new, code_normalise, code_well_formed
from webapp.demos.models import DemoSession, Participant, StageChange
from webapp.demos.panels import presenter_live, presenter_session
from webapp.demos.ratelimit import Limit, limit_exceeded, limit_hit
from webapp.live import group_send
from workers import contracts
from workers.enqueue import demo_prepare_enqueue, demo_reveal_enqueue

MAX_NAME_CHARS = 120
MAX_DISPLAY_NAME_CHARS = 40
MAX_PAIRS_PER_PARTICIPANT = 50


class DemoRejected(ValueError):
    """A request about a demo session that cannot be served; ``str(exc)`` is safe to show, ``status`` is the HTTP
    status that fits."""

    def __init__(self, message: str, *, status: int = 400, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


#: the presenter screen's Channels group (staff only), and the one every participant page of a session listens on
presenter_group = contracts.presenter_group
room_group = contracts.room_group


# --- create ---------------------------------------------------------------------------------------------------

@transaction.atomic
def session_create(
    *,
    presenter: User,
    name: str,
    prompt_ids: list[int] | None = None,
    pairs_per_participant: int = 10,
    show_prototype: bool = True,
    showcase_prompt_id: int | None = None,
) -> DemoSession:
    """A new session in the lobby with a fresh join code; the showcase prompt's default answer is written by a
    gpu worker meanwhile. Without ``prompt_ids`` the default prompt set is used."""
    if not presenter.is_staff:
        raise DemoRejected("only staff can present a demo session", status=403)
    name = " ".join(name.split())
    if not name:
        raise DemoRejected("give the session a name", field="name")
    if len(name) > MAX_NAME_CHARS:
        raise DemoRejected(f"a session name is limited to {MAX_NAME_CHARS} characters", field="name")
    if not 1 <= pairs_per_participant <= MAX_PAIRS_PER_PARTICIPANT:
        raise DemoRejected(f"pairs per participant must be between 1 and {MAX_PAIRS_PER_PARTICIPANT}",
                           field="pairs_per_participant")
    if prompt_ids is None:
        prompt_ids = selectors.prompts_default()
    votable = set(
        Prompt.objects.filter(pk__in=prompt_ids).annotate(n=Count("responses", filter=Q(responses__axis_scores__isnull=False)))
        .filter(n__gte=2).values_list("pk", flat=True)
    )
    if not votable:
        raise DemoRejected("no prompt with at least two scored answers: load the demo data first", field="prompts")
    missing = [pk for pk in prompt_ids if pk not in votable]
    if missing:
        raise DemoRejected(f"these prompts have fewer than two scored answers: {missing[:10]}", field="prompts")
    if showcase_prompt_id is None:
        showcase_prompt_id = selectors.showcase_default(prompt_ids=sorted(votable))
    elif showcase_prompt_id not in votable:
        raise DemoRejected("the showcase prompt must be one of the session's prompts", field="showcase_prompt")
    for _ in range(5):
        code = code_new()
        if not DemoSession.objects.filter(code=code).exists():
            break
    else:  # 31⁸ codes: five collisions in a row means something is wrong, not bad luck
        raise RuntimeError("could not find a free join code")
    now = timezone.now()
    session = DemoSession.objects.create(
        name=name, code=code, presenter=presenter, pairs_per_participant=pairs_per_participant,
        show_prototype=show_prototype, showcase_prompt_id=showcase_prompt_id,
        expires_at=now + timedelta(hours=settings.DEMO_SESSION_HOURS),
    )
    session.prompts.set(sorted(votable))
    StageChange.objects.create(session=session, stage=DemoSession.Stage.LOBBY, by=presenter)
    demo_prepare_enqueue(session_id=session.pk)
    return session


# --- join -----------------------------------------------------------------------------------------------------

def _display_name_clean(raw: str) -> str:
    name = " ".join(raw.split())
    if not name:
        raise DemoRejected("type the name others will see", field="display_name")
    if len(name) > MAX_DISPLAY_NAME_CHARS:
        raise DemoRejected(f"a name is limited to {MAX_DISPLAY_NAME_CHARS} characters", field="display_name")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise DemoRejected("a name cannot contain control characters", field="display_name")
    return name


def join_limits(ip: str) -> tuple[Limit, Limit]:
    window = settings.DEMO_JOIN_WINDOW_SECONDS
    return (Limit(f"fail:{ip}", settings.DEMO_JOIN_FAILURES_PER_IP, window),
            Limit(f"ip:{ip}", settings.DEMO_JOIN_ATTEMPTS_PER_IP, window))


@dataclass(frozen=True)
class Joined:
    participant: Participant
    session: DemoSession


def participant_join(*, code: str, display_name: str, ip: str) -> Joined:
    """Join a session by code as a new session-scoped guest account (no e-mail, no password).

    Rate-limited before anything is looked up: wrong codes and all attempts per IP, and joins per session.
    """
    failures, attempts = join_limits(ip)
    if limit_exceeded(failures, attempts):
        raise DemoRejected("too many join attempts from your network: wait a few minutes and try again", status=429)
    limit_hit(attempts)
    name = _display_name_clean(display_name)
    normalised = code_normalise(code)
    session = (DemoSession.objects.filter(code=normalised).exclude(stage=DemoSession.Stage.CLOSED).first()
               if code_well_formed(normalised) else None)
    if session is None:
        limit_hit(failures)
        raise DemoRejected("no open session has this code: check it on the presenter's screen", status=404,
                           field="code")
    per_session = Limit(f"session:{session.pk}", settings.DEMO_JOINS_PER_SESSION, settings.DEMO_JOIN_WINDOW_SECONDS)
    if limit_hit(per_session) > per_session.limit:
        raise DemoRejected("this session is taking many joins right now: try again in a minute", status=429)
    return _join(session=session, display_name=name)


@transaction.atomic
def _join(*, session: DemoSession, display_name: str) -> Joined:
    session = DemoSession.objects.select_for_update().get(pk=session.pk)  # serialises joins: the cap holds
    if session.stage == DemoSession.Stage.CLOSED:
        raise DemoRejected("this session has closed", status=410, field="code")
    if session.participants.count() >= settings.DEMO_MAX_PARTICIPANTS:
        raise DemoRejected("this session is full", status=409, field="code")
    if session.participants.filter(display_name__iexact=display_name).exists():
        raise DemoRejected("someone in this session already uses that name: pick another", status=409,
                           field="display_name")
    user = get_user_model()(username=f"guest-{session.code.lower()}-{secrets.token_hex(5)}", is_active=True)
    user.set_unusable_password()
    user.save()
    try:
        with transaction.atomic():
            participant = Participant.objects.create(session=session, user=user, display_name=display_name)
    except IntegrityError:
        raise DemoRejected("someone in this session already uses that name: pick another", status=409,
                           field="display_name") from None
    transaction.on_commit(lambda: presenter_push(session_id=session.pk, reason="join"))
    return Joined(participant=participant, session=session)


# --- stages ---------------------------------------------------------------------------------------------------

@transaction.atomic
def session_stage_advance(*, session_id: int, user: User, to_stage: str) -> DemoSession:
    """Move the session one stage on (lobby → voting → reveal → closed). Only its presenter can; a stale button
    (the stage already moved) is rejected, not applied twice. Reveal asks a worker for the personalized
    answers; closing writes the export and deactivates the guest accounts."""
    session = DemoSession.objects.select_for_update().filter(pk=session_id).first()
    if session is None:
        raise DemoRejected("no such session", status=404)
    if not selectors.can_present(user=user, session=session):
        raise DemoRejected("only the session's presenter can change its stage", status=403)
    expected = session.next_stage
    if to_stage not in DemoSession.Stage.values:
        raise DemoRejected(f"unknown stage {to_stage!r}")
    if to_stage != expected:
        raise DemoRejected(f"the session is in {session.stage}; it can only move to {expected or 'nothing'}",
                           status=409)
    session.stage = to_stage
    session.stage_changed_at = timezone.now()
    fields = ["stage", "stage_changed_at"]
    if to_stage == DemoSession.Stage.REVEAL:
        session.reveal = {"status": "pending", "answers": []}
        fields.append("reveal")
        demo_reveal_enqueue(session_id=session.pk)
    session.save(update_fields=fields)
    StageChange.objects.create(session=session, stage=to_stage, by=user)
    if to_stage == DemoSession.Stage.CLOSED:
        _close(session)
    _push_all(session.pk, session.stage)
    return session


def _close(session: DemoSession) -> None:
    """Export the session's data, then end the guests' access (their rows are deleted later, by ``sessions_expire``)."""
    session.closed_at = timezone.now()
    session.export = selectors.session_export(session=session)
    session.save(update_fields=["closed_at", "export"])
    get_user_model().objects.filter(demo_participant__session=session).update(is_active=False)


def _push_all(session_id: int, stage: str) -> None:
    def send() -> None:
        presenter_push(session_id=session_id, reason="stage")
        room_push(session_id=session_id, stage=stage)

    transaction.on_commit(send)


@transaction.atomic
def sessions_expire(*, now: datetime | None = None) -> tuple[int, int]:
    """Close sessions past their expiry and delete the guest accounts of sessions closed longer than the retention
    (their votes and profiles go with them; the export stays on the session). Returns (closed, guests deleted)."""
    now = now or timezone.now()
    closed = 0
    for session in DemoSession.objects.select_for_update().filter(expires_at__lte=now).exclude(
            stage=DemoSession.Stage.CLOSED):
        session.stage, session.stage_changed_at = DemoSession.Stage.CLOSED, now
        session.save(update_fields=["stage", "stage_changed_at"])
        StageChange.objects.create(session=session, stage=session.stage, by=None)
        _close(session)
        _push_all(session.pk, session.stage)
        closed += 1
    cutoff = now - timedelta(hours=settings.DEMO_GUEST_RETENTION_HOURS)
    guests = get_user_model().objects.filter(demo_participant__session__closed_at__lte=cutoff)
    deleted = guests.count()
    guests.delete()
    return closed, deleted


# --- what workers store (one UPDATE each: atomic without a transaction around it) ---------------------------

def participant_showcase_set(*, participant_id: int, response_id: int | None) -> bool:
    """Store the participant's best showcase candidate; True when it changed."""
    return Participant.objects.filter(pk=participant_id).exclude(showcase_response_id=response_id).update(
        showcase_response_id=response_id) == 1


def session_default_answer_store(*, session_id: int, text: str) -> None:
    DemoSession.objects.filter(pk=session_id, default_answer="").update(default_answer=text.strip())


@transaction.atomic
def session_reveal_store(*, session_id: int, reveal: dict[str, object]) -> None:
    """Store the reveal; a session closed before its reveal was written gets it in its export too (the export is
    what the presenter downloads, and it said ``pending`` for good)."""
    session = DemoSession.objects.select_for_update().filter(pk=session_id).only(
        "export", "default_answer").first()
    if session is None:
        return
    changes: dict[str, object] = {"reveal": reveal}
    if session.export is not None:
        changes["export"] = {**session.export, "reveal": {"default_answer": session.default_answer, **reveal}}
    DemoSession.objects.filter(pk=session_id).update(**changes)


def session_reveal_resend(*, session_id: int, seen: dict[str, object], attempts: int, max_attempts: int,
                          error: str) -> str:
    """The job sweeper found this session's reveal still ``seen`` (pending) with no live task: mark it sent again
    ("resent"; the caller enqueues) or, after ``max_attempts``, failed with ``error`` ("failed"). "" when the
    reveal changed meanwhile (a worker wrote it)."""
    from django.utils import timezone as tz

    if attempts >= max_attempts:
        reveal: dict[str, object] = {"status": "failed", "error": error, "answers": [], "attempts": attempts}
        outcome = "failed"
    else:
        reveal = {"status": "pending", "answers": [], "attempts": attempts + 1, "sent_at": tz.now().isoformat()}
        outcome = "resent"
    with transaction.atomic():
        claimed = DemoSession.objects.select_for_update().filter(pk=session_id, reveal=seen).exists()
        if not claimed:
            return ""
        session_reveal_store(session_id=session_id, reveal=reveal)
    return outcome


# --- pushes ---------------------------------------------------------------------------------------------------

def presenter_push(*, session_id: int, reason: str, rendered: bool = False) -> int:
    """Bump the session's push version and tell its presenter screens; returns the version.

    Every update carries a higher version than the last, so the map's ``data-version`` only ever increases.
    ``rendered`` (workers): render the screen here and send it, so the web process only forwards it. A render reads
    the room after its own bump, so it shows every change pushed with a lower version; when a newer push has
    happened meanwhile, that one's render shows this change too and this one sends nothing."""
    table = DemoSession._meta.db_table
    with connection.cursor() as cursor:  # one round trip: bump and read (PostgreSQL and SQLite ≥ 3.35)
        cursor.execute(f"UPDATE {table} SET push_version = push_version + 1 WHERE id = %s RETURNING push_version",
                       [session_id])
        row = cursor.fetchone()
    version = int(row[0]) if row else 0
    message: dict[str, object] = {"type": "demo.updated", "session_id": session_id, "version": version,
                                  "reason": reason}
    if rendered:
        session = presenter_session(session_id=session_id)
        if session is None or session.push_version > version:
            return version
        message["version"], message["html"] = presenter_live(session=session)
    group_send(presenter_group(session_id), message)
    return version


def room_push(*, session_id: int, stage: str) -> None:
    """Tell every participant page of the session that the stage changed."""
    group_send(room_group(session_id), {"type": "demo.stage", "session_id": session_id, "stage": stage})
