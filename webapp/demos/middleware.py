"""Guests are scoped to their session: a demo guest's request anywhere but the demo pages goes back to its room
(no /vote/ outside the session's prompts, no generation jobs, no API)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

#: where a guest may go; everything else redirects to their room
GUEST_PATHS = ("/demo/", "/static/", "/accounts/logout/", "/healthz")
GUEST_PREFIX = "guest-"  # every guest username starts so; the participant row decides


class GuestScopeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (user is not None and user.is_authenticated and user.get_username().startswith(GUEST_PREFIX)
                and not request.path.startswith(GUEST_PATHS)):
            from webapp.demos.models import Participant

            code = Participant.objects.filter(user_id=user.pk).values_list("session__code", flat=True).first()
            if code is not None:
                return redirect("demo-room", code=code)
        return self.get_response(request)
