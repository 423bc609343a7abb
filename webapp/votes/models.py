"""Pairs as shown to a user (with the shown order) and the votes on them."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Pair(models.Model):
    """Two responses to one prompt, in the order the user saw them (sides randomised when created)."""

    class Source(models.TextChoices):
        ACTIVE = "active", "active selection"
        RANDOM = "random", "random"
        GOLD = "gold", "gold (known answer)"
        REPEAT = "repeat", "repeat (consistency)"
        COMPARE = "compare", "default vs personalized"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pairs")
    prompt = models.ForeignKey("catalog.Prompt", on_delete=models.CASCADE, related_name="+")
    left = models.ForeignKey("catalog.Response", on_delete=models.CASCADE, related_name="+")
    right = models.ForeignKey("catalog.Response", on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.RANDOM)
    shown_at = models.DateTimeField(auto_now_add=True)
    skipped_at = models.DateTimeField(null=True, blank=True)
    # gold pairs: the response known to be better (the on-topic answer against an off-topic one)
    expected = models.ForeignKey("catalog.Response", null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="+")
    # repeat pairs: the earlier pair shown again (sides swapped) to measure consistency
    repeat_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="repeats")

    class Meta:
        indexes = [models.Index(fields=["user", "-shown_at"])]
        constraints = [
            models.CheckConstraint(condition=~models.Q(left=models.F("right")), name="pair_two_distinct_responses")
        ]


class Vote(models.Model):
    class Choice(models.TextChoices):
        LEFT = "left", "left is better"
        RIGHT = "right", "right is better"
        TIE = "tie", "tie"
        BOTH_BAD = "both_bad", "both bad"

    class Strength(models.IntegerChoices):
        SLIGHT = 1, "slight"
        CLEAR = 2, "clear"
        STRONG = 3, "strong"

    # Made by the client (browser or script) so that a resubmission of the same vote is recognised.
    idempotency_key = models.UUIDField(unique=True, default=uuid.uuid4)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="votes")
    pair = models.OneToOneField(Pair, on_delete=models.CASCADE, related_name="vote")
    choice = models.CharField(max_length=10, choices=Choice.choices)
    strength = models.PositiveSmallIntegerField(choices=Strength.choices, default=Strength.CLEAR)
    rationale = models.CharField(max_length=280, blank=True)
    time_to_vote_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["user", "id"])]
