"""ASGI entry point: Django for HTTP, Channels for websockets (served by uvicorn)."""

from __future__ import annotations

import os
import sys

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings.base")
django_asgi_app = get_asgi_application()

from django.conf import settings  # noqa: E402

sys.setswitchinterval(settings.WEB_GIL_SWITCH_INTERVAL_MS / 1000)  # this process only; the why: settings

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from webapp.accounts.ws_auth import TokenOrSessionAuth  # noqa: E402
from webapp.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": TokenOrSessionAuth(URLRouter(websocket_urlpatterns)),
    }
)
