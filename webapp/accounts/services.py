"""Writes on accounts themselves (the rest of a person's data has its own services)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


@transaction.atomic
def account_delete(*, user: AbstractBaseUser) -> None:
    """Delete the account and, by cascade, everything that is only theirs: votes, pairs, profile, jobs, demo
    participation. Audit rows they acted in keep the action and lose the name (``SET_NULL``)."""
    user.delete()
