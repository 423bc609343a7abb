"""Per-scope throttles (votes, generation, auth), rates from ``REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']``.

The rate is read per request rather than once at import (DRF's default), so a deployment or a test that
changes the settings is obeyed. Counters live in Django's cache (Redis), shared by every web process.
"""

from __future__ import annotations

from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class _ScopeRate:
    scope: str

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class VotesThrottle(_ScopeRate, UserRateThrottle):
    scope = "votes"


class GenerationThrottle(_ScopeRate, UserRateThrottle):
    scope = "generation"


class AuthThrottle(_ScopeRate, AnonRateThrottle):
    """Token requests come from signed-out clients: counted per client address."""

    scope = "auth"
