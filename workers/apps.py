from __future__ import annotations

from django.apps import AppConfig


class WorkersConfig(AppConfig):
    """Registered so that model-loading management commands live beside the tasks, outside the web app."""

    name = "workers"
