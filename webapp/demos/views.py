"""Live demo pages: the presenter's form and screen, joining by code, and the participant's page (which votes
through the same forms, services and template parts as /vote/, restricted to the session's prompts)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

import segno
from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from webapp.demos import selectors, services
from webapp.demos.forms import JoinForm, SessionForm, StageForm
from webapp.demos.models import DemoSession, Participant
from webapp.profiles.selectors import profile_get
from webapp.votes import selectors as vote_selectors
from webapp.votes.forms import PairActionForm, UndoForm, VoteForm
from webapp.votes.services import VoteRejected, pair_skip, vote_record, vote_undo


def _staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous → the login page; signed in but not staff → 403 (not a login loop)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_staff:
            raise PermissionDenied("only staff can present demo sessions")
        return view(request, *args, **kwargs)

    return wrapped


def _presented(request: HttpRequest, code: str) -> DemoSession:
    session = selectors.session_by_code(code=code)
    if session is None:
        raise Http404("no such session")
    if not selectors.can_present(user=request.user, session=session):
        raise PermissionDenied("only the session's presenter can open this")
    return session


def _errors(form: Any) -> str:
    return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in form.errors.items())


# --- presenter ------------------------------------------------------------------------------------------------

@_staff_required
@require_http_methods(["GET", "POST"])
def session_new(request: HttpRequest) -> HttpResponse:
    prompts = selectors.prompts_votable()
    form = SessionForm(request.POST or None, prompts=prompts)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                session = services.session_create(
                    presenter=request.user, name=data["name"],
                    prompt_ids=[p.pk for p in data["prompts"]] or None,
                    pairs_per_participant=data["pairs_per_participant"] or 10,
                    show_prototype=data["show_prototype"],
                    showcase_prompt_id=data["showcase_prompt"].pk if data["showcase_prompt"] else None,
                )
            except services.DemoRejected as exc:
                form.add_error(exc.field if exc.field in form.fields else None, str(exc))
                status = exc.status
            else:
                return redirect("demo-present", code=session.code)
        else:
            status = 400
    return render(request, "demos/new.html", {"form": form, "no_prompts": not prompts}, status=status)


def _join_url(request: HttpRequest, session: DemoSession) -> str:
    return request.build_absolute_uri(f"{reverse('demo-join')}?code={session.code}")


@_staff_required
@require_GET
def present(request: HttpRequest, code: str) -> HttpResponse:
    session = _presented(request, code)
    join_url = _join_url(request, session)
    qr = segno.make(join_url, error="m")
    context = {**selectors.presenter_screen(session=session), "join_url": join_url,
               "qr_svg": qr.svg_inline(scale=5, dark="#111", light="#fff", title=f"QR code: {join_url}")}
    return render(request, "demos/present.html", context)


@_staff_required
@require_POST
def stage(request: HttpRequest, code: str) -> HttpResponse:
    session = _presented(request, code)
    form = StageForm(request.POST)
    error, status = "", 200
    if not form.is_valid():
        error, status = f"Stage not changed — {_errors(form)}", 400
    else:
        try:
            session = services.session_stage_advance(session_id=session.pk, user=request.user,
                                                     to_stage=form.cleaned_data["stage"])
        except services.DemoRejected as exc:
            error, status = f"Stage not changed — {exc}", exc.status
    if not request.htmx:
        if error:
            return HttpResponse(error, status=status, content_type="text/plain")
        return redirect("demo-present", code=session.code)
    session.refresh_from_db()
    context = {**selectors.presenter_screen(session=session), "oob": True, "stage_error": error}
    return render(request, "demos/present.html#live", context, status=status)


@_staff_required
@require_GET
def export(request: HttpRequest, code: str) -> HttpResponse:
    session = _presented(request, code)
    if session.export is None:
        return HttpResponse("The export is written when the session closes.", status=409, content_type="text/plain")
    response = HttpResponse(json.dumps(session.export, indent=2), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="tailor-demo-{session.code}.json"'
    return response


# --- participants ---------------------------------------------------------------------------------------------

def _client_ip(request: HttpRequest) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted proxy rewrites it (not configured)
    return str(request.META.get("REMOTE_ADDR") or "unknown")


@require_http_methods(["GET", "POST"])
def join(request: HttpRequest) -> HttpResponse:
    form = JoinForm(request.POST or None, initial={"code": request.GET.get("code", "")[:20]})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                joined = services.participant_join(code=form.cleaned_data["code"],
                                                   display_name=form.cleaned_data["display_name"],
                                                   ip=_client_ip(request))
            except services.DemoRejected as exc:
                form.add_error(exc.field if exc.field in form.fields else None, str(exc))
                status = exc.status
            else:
                login(request, joined.participant.user, backend="django.contrib.auth.backends.ModelBackend")
                return redirect("demo-room", code=joined.session.code)
        else:
            status = 400
    return render(request, "demos/join.html", {"form": form}, status=status)


def _participant(request: HttpRequest, code: str) -> tuple[DemoSession, Participant | None]:
    participant = selectors.participant_by_code(user=request.user, code=code)  # the usual case: one query
    if participant is not None:
        return participant.session, participant
    session = selectors.session_by_code(code=code)
    if session is None:
        raise Http404("no such session")
    return session, selectors.participant_of(user=request.user, session=session)


def _pair_context(request: HttpRequest, session: DemoSession, participant: Participant, *, error: str = "",
                  notice: str = "") -> dict[str, Any]:
    """The /vote/ pair partial's context, with this session's prompts, pair budget and URLs."""
    progress = vote_selectors.progress_get(user=request.user)
    pair = None
    if session.accepts_votes and progress.votes_total < session.pairs_per_participant:
        pair = vote_selectors.pair_next(user=request.user, prompt_ids=selectors.session_prompt_ids(session=session))
    confident = settings.PERSONALIZATION["confident_votes"]
    return {
        "pair": pair, "error": error, "notice": notice, "progress": progress,
        "votes_to_confident": max(session.pairs_per_participant - progress.votes_total, 0),
        "confident_votes": session.pairs_per_participant, "idempotency_key": uuid.uuid4(),
        "profile": profile_get(user_id=request.user.pk, confident_votes=confident),
        "vote_url": reverse("demo-vote", args=[session.code]), "skip_url": reverse("demo-skip", args=[session.code]),
        "undo_url": reverse("demo-undo", args=[session.code]),
    }


def room_context(request: HttpRequest, session: DemoSession, participant: Participant, **kwargs: str) -> dict[str, Any]:
    return {"session": session, "participant": participant,
            "me": selectors.participant_view(participant=participant),
            **_pair_context(request, session, participant, **kwargs)}


@require_GET
def room(request: HttpRequest, code: str) -> HttpResponse:
    session, participant = _participant(request, code)
    if participant is None:
        if session.stage == DemoSession.Stage.CLOSED:
            return render(request, "demos/closed.html", {"session": session}, status=410)
        return redirect(f"{reverse('demo-join')}?code={session.code}")
    context = room_context(request, session, participant)
    template = "demos/room.html#body" if request.htmx else "demos/room.html"
    return render(request, template, context)


def _pair_response(request: HttpRequest, session: DemoSession, participant: Participant, *, error: str = "",
                   notice: str = "", status: int = 200) -> HttpResponse:
    if not request.htmx:  # without JavaScript: the whole page (with the error), or back to it
        if not error:
            return redirect("demo-room", code=session.code)
        return render(request, "demos/room.html", room_context(request, session, participant, error=error),
                      status=status)
    context = _pair_context(request, session, participant, error=error, notice=notice)
    return render(request, "votes/vote.html#pair", context, status=status)


def _voting(request: HttpRequest, code: str) -> tuple[DemoSession, Participant]:
    session, participant = _participant(request, code)
    if participant is None:
        raise PermissionDenied("join this session first")
    return session, participant


@require_POST
def room_vote(request: HttpRequest, code: str) -> HttpResponse:
    session, participant = _voting(request, code)
    if not session.accepts_votes:
        return _pair_response(request, session, participant, error="Vote not saved — voting is closed",
                              status=409)
    form = VoteForm(request.POST)
    if not form.is_valid():
        return _pair_response(request, session, participant, error=f"Vote not saved — {_errors(form)}", status=400)
    data = form.cleaned_data
    try:
        vote_record(user=request.user, pair_id=data["pair_id"], idempotency_key=data["idempotency_key"],
                    choice=data["choice"], strength=data["strength"], rationale=data["rationale"],
                    time_to_vote_ms=data["time_to_vote_ms"])
    except VoteRejected as exc:
        return _pair_response(request, session, participant, error=f"Vote not saved — {exc}", status=409)
    return _pair_response(request, session, participant)


@require_POST
def room_skip(request: HttpRequest, code: str) -> HttpResponse:
    session, participant = _voting(request, code)
    form = PairActionForm(request.POST)
    if not form.is_valid():
        return _pair_response(request, session, participant, error=f"Not skipped — {_errors(form)}", status=400)
    if not pair_skip(user=request.user, pair_id=form.cleaned_data["pair_id"]):
        return _pair_response(request, session, participant,
                              error="Not skipped — that pair is not waiting for your vote", status=409)
    return _pair_response(request, session, participant)


@require_POST
def room_undo(request: HttpRequest, code: str) -> HttpResponse:
    session, participant = _voting(request, code)
    if not session.accepts_votes:
        return _pair_response(request, session, participant, error="Not undone — voting is closed", status=409)
    form = UndoForm(request.POST)
    if not form.is_valid():
        return _pair_response(request, session, participant, error=f"Not undone — {_errors(form)}", status=400)
    try:
        vote_undo(user=request.user, vote_id=form.cleaned_data["vote_id"])
    except VoteRejected as exc:
        return _pair_response(request, session, participant, error=f"Not undone — {exc}", status=409)
    return _pair_response(request, session, participant, notice="Vote undone: here is that pair again.")
