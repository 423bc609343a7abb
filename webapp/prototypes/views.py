"""Staff review of prototypes (/staff/prototypes/): thin views over the selectors and the audited services."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from webapp.prototypes import services
from webapp.prototypes.models import Prototype
from webapp.prototypes.selectors import (
    audit_recent,
    prototype_detail,
    prototype_map,
    prototypes_for_review,
    review_job_latest,
)


def staff_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous visitors go to the login page; signed-in users who are not staff get 403."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not (request.user.is_active and request.user.is_staff):
            raise PermissionDenied("staff only")
        return view(request, *args, **kwargs)

    return wrapped


def review_context() -> dict[str, object]:
    """What the review page shows; the staff socket pushes the same parts (see consumers.py)."""
    prototypes = prototypes_for_review()
    return {"map": prototype_map(with_summaries=True), "prototypes": prototypes,
            "live": [p for p in prototypes if p.status != Prototype.Status.RETIRED], "audit": audit_recent(),
            "job": review_job_latest()}


@staff_only
@require_GET
def review(request: HttpRequest) -> HttpResponse:
    return render(request, "prototypes/review.html", review_context())


@staff_only
@require_GET
def detail(request: HttpRequest, key: int) -> HttpResponse:
    found = prototype_detail(key=key)
    if found is None:
        raise Http404("no such prototype")
    return render(request, "prototypes/detail.html", {"detail": found, "prototype": found.prototype})


def _done(request: HttpRequest, key: int | None = None) -> HttpResponse:
    """Back to where the form was (the list or a prototype's page); htmx follows with a full navigation."""
    url = reverse("prototype-detail", args=[key]) if key is not None and request.POST.get("back") == "detail" \
        else reverse("prototype-review")
    if request.htmx:
        return HttpResponse(status=204, headers={"HX-Redirect": url})
    return HttpResponseRedirect(url)


def _act(request: HttpRequest, action: Callable[[], object], success: str, key: int | None = None) -> HttpResponse:
    try:
        action()
    except services.PrototypeActionRejected as exc:
        messages.error(request, f"Nothing changed: {exc}.")
    else:
        messages.success(request, success)
    return _done(request, key)


@staff_only
@require_POST
def rename(request: HttpRequest, key: int) -> HttpResponse:
    name = request.POST.get("name", "")
    return _act(request, lambda: services.prototype_rename(actor_id=request.user.pk, key=key, name=name),
                f"Renamed prototype #{key}.", key)


@staff_only
@require_POST
def approve(request: HttpRequest, key: int) -> HttpResponse:
    return _act(request, lambda: services.prototype_approve(actor_id=request.user.pk, key=key),
                f"Approved prototype #{key}.", key)


@staff_only
@require_POST
def retire(request: HttpRequest, key: int) -> HttpResponse:
    return _act(request, lambda: services.prototype_retire(actor_id=request.user.pk, key=key),
                f"Retired prototype #{key}; its members moved to the nearest live prototype.", key)


@staff_only
@require_POST
def split(request: HttpRequest, key: int) -> HttpResponse:
    return _act(request, lambda: services.prototype_split_request(actor_id=request.user.pk, key=key),
                f"Splitting prototype #{key}: a worker re-clusters its members; the list updates when done.", key)


@staff_only
@require_POST
def merge(request: HttpRequest) -> HttpResponse:
    try:
        source, target = int(request.POST.get("source", "")), int(request.POST.get("target", ""))
    except ValueError:
        messages.error(request, "Nothing changed: choose the two prototypes to merge.")
        return _done(request)
    return _act(request, lambda: services.prototypes_merge(actor_id=request.user.pk, source_key=source,
                                                           target_key=target),
                f"Merged prototype #{source} into #{target}.")


@staff_only
@require_POST
def refit(request: HttpRequest) -> HttpResponse:
    return _act(request, lambda: services.prototypes_refit_request(actor_id=request.user.pk),
                "Re-clustering everyone now; progress shows below.")
