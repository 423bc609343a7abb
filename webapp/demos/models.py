"""Live demo sessions: a presenter runs a room, participants join by code with session-scoped guest accounts.

Guests are ordinary ``User`` rows (unusable password, no e-mail) so they vote through the same services as
everyone; a participant row ties one guest to one session, and the accounts expire with the session.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class DemoSession(models.Model):
    class Stage(models.TextChoices):
        LOBBY = "lobby", "lobby"
        VOTING = "voting", "voting"
        REVEAL = "reveal", "reveal"
        CLOSED = "closed", "closed"

    name = models.CharField(max_length=120)
    # secrets-made, from an alphabet without look-alikes; guessing is also rate-limited (webapp/demos/ratelimit.py)
    code = models.CharField(max_length=12, unique=True)
    stage = models.CharField(max_length=10, choices=Stage.choices, default=Stage.LOBBY, db_index=True)
    presenter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="demo_sessions")
    prompts = models.ManyToManyField("catalog.Prompt", related_name="+")
    showcase_prompt = models.ForeignKey("catalog.Prompt", null=True, on_delete=models.SET_NULL, related_name="+")
    pairs_per_participant = models.PositiveSmallIntegerField(default=10)
    show_prototype = models.BooleanField(default=True)
    # the showcase prompt answered without personalization (a gpu worker writes it once)
    default_answer = models.TextField(blank=True)
    # what the reveal stage shows: {"status", "answers": [{"label", "kind", "summary", "members", "text", ...}]}
    reveal = models.JSONField(default=dict, blank=True)
    # bumped by every push to the presenter screen; the live map carries it as data-version
    push_version = models.PositiveIntegerField(default=0)
    export = models.JSONField(null=True, blank=True)  # written when the session closes
    created_at = models.DateTimeField(auto_now_add=True)
    stage_changed_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def accepts_votes(self) -> bool:
        """Participants vote from the moment they join (the lobby is a warm-up) until the reveal."""
        return self.stage in (self.Stage.LOBBY, self.Stage.VOTING)

    @property
    def next_stage(self) -> str | None:
        """Stages only move forward, one at a time: lobby → voting → reveal → closed."""
        order = list(self.Stage.values)
        index = order.index(self.stage)
        return order[index + 1] if index + 1 < len(order) else None


class Participant(models.Model):
    session = models.ForeignKey(DemoSession, on_delete=models.CASCADE, related_name="participants")
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="demo_participant")
    display_name = models.CharField(max_length=40)
    joined_at = models.DateTimeField(auto_now_add=True)
    # the showcase prompt's candidate that scores best under this participant's weights (a worker picks it)
    showcase_response = models.ForeignKey("catalog.Response", null=True, blank=True, on_delete=models.SET_NULL,
                                          related_name="+")

    class Meta:
        ordering = ["joined_at", "id"]
        constraints = [
            models.UniqueConstraint(models.functions.Lower("display_name"), "session",
                                    name="participant_name_unique_in_session"),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} in {self.session.code}"


class StageChange(models.Model):
    """The stage log: who moved the session to which stage, when."""

    session = models.ForeignKey(DemoSession, on_delete=models.CASCADE, related_name="stage_changes")
    stage = models.CharField(max_length=10, choices=DemoSession.Stage.choices)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]
