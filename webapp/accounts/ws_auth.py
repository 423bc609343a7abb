"""Who a websocket belongs to: the browser's session, or an API token for scripts.

A browser socket carries an ambient credential (the session cookie), so it must come from an allowed origin
(cross-site websocket hijacking). A socket that names an API token in its ``Authorization: Token <key>`` header
carries no ambient credential, so a script may open it without an Origin header; a wrong token leaves the socket
anonymous and every consumer refuses it.
"""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.security.websocket import AllowedHostsOriginValidator
from django.contrib.auth.models import AnonymousUser


@database_sync_to_async
def _token_user(key: str) -> Any:
    from rest_framework.authtoken.models import Token

    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return AnonymousUser()
    return token.user


def _token_key(scope: dict[str, Any]) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, key = value.decode("latin1").partition(" ")
            if scheme.lower() == "token" and key.strip():
                return key.strip()
    return None


class TokenOrSessionAuth:
    """ASGI websocket app: token sockets go straight to ``inner``; the rest through the origin check and the
    session (Channels' ``AuthMiddlewareStack``)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.session_app = AllowedHostsOriginValidator(AuthMiddlewareStack(inner))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        key = _token_key(scope)
        if key is None:
            return await self.session_app(scope, receive, send)
        return await self.inner({**scope, "user": await _token_user(key)}, receive, send)
