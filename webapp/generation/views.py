"""The side-by-side page: one prompt answered by default (left) and for you (right), both streamed."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from webapp.catalog.models import Prompt
from webapp.generation.models import GenerationJob
from webapp.generation.services import (
    MAX_PROMPT_CHARS,
    POOL_STYLES,
    GenerationRejected,
    compare_cancel,
    compare_start,
    prompt_from_user,
)


def _page(
    request: HttpRequest,
    prompt: Prompt | None,
    *,
    job: GenerationJob | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    context = {
        "prompt": prompt,
        "job": job,
        "error": error,
        "methods": GenerationJob.Method.choices,
        "max_prompt_chars": MAX_PROMPT_CHARS,
        "examples": Prompt.objects.filter(source=Prompt.Source.DEMO).order_by("?")[:6],
        "pool_size": prompt.responses.exclude(style__in=["default"])
        .exclude(style__startswith="personal")
        .count()
        if prompt
        else 0,
        "pool_total": POOL_STYLES,
    }
    template = "generation/compare.html#panes" if request.htmx else "generation/compare.html"
    return render(request, template, context, status=status)


@login_required
def compare_index(request: HttpRequest) -> HttpResponse:
    return _page(request, None)


@login_required
@require_http_methods(["GET", "POST"])
def compare(request: HttpRequest, prompt_id: int) -> HttpResponse:
    prompt = get_object_or_404(Prompt, pk=prompt_id)
    if request.method == "GET":
        return _page(request, prompt)
    method = request.POST.get("method", GenerationJob.Method.SUMMARY)
    try:
        job = compare_start(user=request.user, prompt=prompt, method=method)
    except GenerationRejected as exc:
        return _page(request, prompt, error=str(exc), status=400)
    return _page(request, prompt, job=job)


@login_required
@require_POST
def compare_custom(request: HttpRequest) -> HttpResponse:
    try:
        prompt = prompt_from_user(text=request.POST.get("text", ""))
    except GenerationRejected as exc:
        return _page(request, None, error=str(exc), status=400)
    return redirect("compare", prompt_id=prompt.pk)


@login_required
@require_POST
def compare_job_cancel(request: HttpRequest, job_id: str) -> HttpResponse:
    """The Cancel button: stop the user's own job; answers the result panel (htmx swaps it in)."""
    job = get_object_or_404(GenerationJob, pk=job_id, user=request.user)
    compare_cancel(job_id=str(job.pk), user_id=request.user.pk)
    job.refresh_from_db()
    return render(request, "generation/_result.html", {"job": job})
