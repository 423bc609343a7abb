"""Tokens for scripts: ``POST username, password`` → ``{"token": ...}``; send ``Authorization: Token <token>``."""

from __future__ import annotations

from rest_framework.authtoken.views import ObtainAuthToken

from webapp.api.throttles import AuthThrottle


class TokenView(ObtainAuthToken):
    throttle_classes = [AuthThrottle]
