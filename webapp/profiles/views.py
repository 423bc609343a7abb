from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from webapp.profiles.selectors import profile_detail, user_data_export
from webapp.profiles.services import SummaryRejected, summary_edit
from webapp.votes.services import user_data_delete
from workers.enqueue import profile_refit_enqueue


@login_required
def me(request: HttpRequest) -> HttpResponse:
    detail = profile_detail(user_id=request.user.pk, confident_votes=settings.PERSONALIZATION["confident_votes"])
    return render(request, "profiles/me.html", {"detail": detail, "profile": detail.view})


@login_required
def data_download(request: HttpRequest) -> HttpResponse:
    payload = {"user": request.user.get_username(), "exported_at": timezone.now().isoformat(),
               **user_data_export(user_id=request.user.pk)}
    response = HttpResponse(json.dumps(payload, indent=2), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="tailor-{request.user.get_username()}.json"'
    return response


@login_required
@require_POST
def data_delete(request: HttpRequest) -> HttpResponse:
    if request.POST.get("confirm") != "delete":
        messages.error(request, "Nothing deleted: tick the confirmation box first.")
        return redirect("me")
    deleted = user_data_delete(user=request.user)
    profile_refit_enqueue(user_id=request.user.pk)  # pushes the emptied profile to open pages
    messages.success(request, f"Deleted your {deleted} votes and your profile.")
    return redirect("me")


@login_required
@require_POST
def summary_update(request: HttpRequest) -> HttpResponse:
    try:
        summary_edit(user_id=request.user.pk, text=request.POST.get("summary", ""))
    except SummaryRejected as exc:
        messages.error(request, f"Summary not saved: {exc}")
        return redirect("me")
    messages.success(request, "Summary saved: Tailor is reading it onto your axes; your profile updates in a moment.")
    return redirect("me")
