"""``settings.TAILOR_QUALITY`` converted, once, to a typed config; bad values fail loudly at start-up."""

from __future__ import annotations

from dataclasses import dataclass, fields

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class QualityConfig:
    """Thresholds below which a voter is flagged for staff (and left out of the base-reward-bank refit).

    A figure is only judged once it rests on enough votes (the ``min_*_votes``), so a new user is never flagged
    on one unlucky gold pair. ``fast_vote_ms``: a vote quicker than this cannot have read both answers;
    ``max_fast_share``: the share of such votes tolerated. ``max_side_share``: position bias, the share of
    sided votes on one side (0.5 is unbiased) above which a voter looks like they always click one side.
    """

    min_gold_votes: int = 3
    min_gold_accuracy: float = 0.6
    min_repeat_votes: int = 3
    min_repeat_consistency: float = 0.5
    min_sided_votes: int = 20
    max_side_share: float = 0.9
    min_timed_votes: int = 10
    fast_vote_ms: int = 1500
    max_fast_share: float = 0.5


_SHARES = ("min_gold_accuracy", "min_repeat_consistency", "max_side_share", "max_fast_share")
_COUNTS = ("min_gold_votes", "min_repeat_votes", "min_sided_votes", "min_timed_votes", "fast_vote_ms")


def quality_config_from(raw: dict[str, object]) -> QualityConfig:
    known = {f.name for f in fields(QualityConfig)}
    unknown = set(raw) - known
    if unknown:
        raise ImproperlyConfigured(f"unknown TAILOR_QUALITY keys: {sorted(unknown)}")
    config = QualityConfig(**raw)  # type: ignore[arg-type]
    for name in _SHARES:
        value = getattr(config, name)
        if not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
            raise ImproperlyConfigured(f"TAILOR_QUALITY[{name!r}] must be a number between 0 and 1, got {value!r}")
    for name in _COUNTS:
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ImproperlyConfigured(f"TAILOR_QUALITY[{name!r}] must be a whole number >= 1, got {value!r}")
    if config.max_side_share < 0.5:
        raise ImproperlyConfigured("TAILOR_QUALITY['max_side_share'] below 0.5 would flag every voter")
    return config


def quality_config() -> QualityConfig:
    """Read per call (cheap): a test or an admin changing the settings sees the change."""
    return quality_config_from(dict(getattr(settings, "TAILOR_QUALITY", {})))
