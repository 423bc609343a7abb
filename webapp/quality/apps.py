from __future__ import annotations

from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "webapp.quality"

    def ready(self) -> None:
        from webapp.quality.config import quality_config

        quality_config()  # a bad TAILOR_QUALITY fails at start-up, not at the first staff request
