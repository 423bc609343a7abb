from __future__ import annotations

from django.urls import path

from webapp.profiles.consumers import ProfileConsumer

websocket_urlpatterns = [
    path("ws/profile/", ProfileConsumer.as_asgi()),
]
