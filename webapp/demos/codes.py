"""Join codes: 8 characters drawn with ``secrets`` from 31 symbols without look-alikes (no 0/O, 1/I/L).

31⁸ ≈ 8.5·10¹¹ codes (≈ 39.6 bits). At the default 10 wrong guesses per address per 10 minutes (1,440 a day), one
address needs ~1,600 years on average to hit any of a thousand open sessions, and sessions close within hours;
per-session join limits and the room cap bound what a lucky guess could do.
"""

from __future__ import annotations

import secrets

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH = 8


def code_new() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def code_normalise(raw: str) -> str:
    """What a person typed → the stored form: upper case, spaces and dashes dropped."""
    return "".join(raw.split()).replace("-", "").upper()


def code_well_formed(code: str) -> bool:
    return len(code) == LENGTH and all(ch in ALPHABET for ch in code)
