from __future__ import annotations

from django.apps import AppConfig


class PrototypesConfig(AppConfig):
    name = "webapp.prototypes"
