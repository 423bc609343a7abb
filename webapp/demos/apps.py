from __future__ import annotations

from django.apps import AppConfig


class DemosConfig(AppConfig):
    name = "webapp.demos"
    label = "demos"
