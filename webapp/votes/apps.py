from __future__ import annotations

from django.apps import AppConfig


class VotesConfig(AppConfig):
    name = "webapp.votes"
