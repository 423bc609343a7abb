from __future__ import annotations

from django.apps import AppConfig


class ProfilesConfig(AppConfig):
    name = "webapp.profiles"
