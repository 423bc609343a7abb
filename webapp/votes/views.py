"""The voting page: one view serves the page and, for htmx requests, the pair fragment."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from webapp.profiles.selectors import profile_get
from webapp.votes import selectors
from webapp.votes.forms import VoteForm
from webapp.votes.services import VoteRejected, vote_record


def _render(request: HttpRequest, *, error: str = "", status: int = 200) -> HttpResponse:
    pair = selectors.pair_next(user=request.user)
    context = {
        "pair": pair,
        "error": error,
        "profile": profile_get(user_id=request.user.pk, confident_votes=settings.PERSONALIZATION["confident_votes"]),
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
        errors = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in form.errors.items())
        return _render(request, error=f"Vote not saved — {errors}", status=400)
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
