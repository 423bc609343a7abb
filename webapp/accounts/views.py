from __future__ import annotations

from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods


def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("vote")
    return render(request, "home.html")


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user)
        return redirect("vote")
    return render(request, "registration/signup.html", {"form": form}, status=400 if form.errors else 200)


def healthz(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"ok": True})
