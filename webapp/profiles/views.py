from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from webapp.profiles.selectors import profile_get


@login_required
def me(request: HttpRequest) -> HttpResponse:
    profile = profile_get(user_id=request.user.pk, confident_votes=settings.PERSONALIZATION["confident_votes"])
    return render(request, "profiles/me.html", {"profile": profile})
