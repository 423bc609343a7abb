from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from webapp.accounts.services import account_delete


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


@login_required
@require_POST
def account_delete_view(request: HttpRequest) -> HttpResponse:
    if request.POST.get("confirm") != "delete-account":
        messages.error(request, "Account not deleted: tick its confirmation box first.")
        return redirect("me")
    user = request.user
    logout(request)
    account_delete(user=user)  # type: ignore[arg-type]
    messages.success(request, "Your account and everything in it are deleted. Goodbye!")
    return redirect("home")


def healthz(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"ok": True})
