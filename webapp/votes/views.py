"""The voting page: one view serves the page and, for htmx requests, the pair fragment."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from webapp.profiles.selectors import profile_get
from webapp.votes import selectors
from webapp.votes.forms import PairActionForm, UndoForm, VoteForm
from webapp.votes.services import VoteRejected, pair_skip, vote_record, vote_undo


def _errors(form: PairActionForm | UndoForm | VoteForm) -> str:
    return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in form.errors.items())


def _render(request: HttpRequest, *, error: str = "", notice: str = "", status: int = 200) -> HttpResponse:
    pair = selectors.pair_next(user=request.user)
    confident = settings.PERSONALIZATION["confident_votes"]
    progress = selectors.progress_get(user=request.user)
    context = {
        "pair": pair,
        "error": error,
        "notice": notice,
        "progress": progress,
        "votes_to_confident": max(confident - progress.votes_total, 0),
        "confident_votes": confident,
        "profile": profile_get(user_id=request.user.pk, confident_votes=confident),
        "onboarding": progress.votes_total == 0,
        # one key per rendered form: however often this form is submitted, it is one vote (works without JS)
        "idempotency_key": uuid.uuid4(),
    }
    template = "votes/vote.html#pair" if request.htmx else "votes/vote.html"
    return render(request, template, context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def vote(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _render(request)
    form = VoteForm(request.POST)
    if not form.is_valid():
        return _render(request, error=f"Vote not saved — {_errors(form)}", status=400)
    data = form.cleaned_data
    try:
        vote_record(
            user=request.user, pair_id=data["pair_id"], idempotency_key=data["idempotency_key"],
            choice=data["choice"], strength=data["strength"], rationale=data["rationale"],
            time_to_vote_ms=data["time_to_vote_ms"],
        )
    except VoteRejected as exc:
        return _render(request, error=f"Vote not saved — {exc}", status=409)
    if not request.htmx:
        return redirect("vote")
    return _render(request)


@login_required
@require_POST
def skip(request: HttpRequest) -> HttpResponse:
    form = PairActionForm(request.POST)
    if not form.is_valid():
        return _render(request, error=f"Not skipped — {_errors(form)}", status=400)
    if not pair_skip(user=request.user, pair_id=form.cleaned_data["pair_id"]):
        return _render(request, error="Not skipped — that pair is not waiting for your vote", status=409)
    return _render(request) if request.htmx else redirect("vote")


@login_required
@require_POST
def undo(request: HttpRequest) -> HttpResponse:
    form = UndoForm(request.POST)
    if not form.is_valid():
        return _render(request, error=f"Not undone — {_errors(form)}", status=400)
    try:
        vote_undo(user=request.user, vote_id=form.cleaned_data["vote_id"])
    except VoteRejected as exc:
        return _render(request, error=f"Not undone — {exc}", status=409)
    return _render(request, notice="Vote undone: here is that pair again.") if request.htmx else redirect("vote")
