"""User prototypes (P-GenRM): clusters of users' reward weights, refitted by a periodic worker job.

``key`` is the library's stable prototype id: a refit matches new clusters to old ones, so a prototype keeps its
key (and its name, status and review history) across refits.
"""

from __future__ import annotations

from django.db import models


class Prototype(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "active"
        APPROVED = "approved", "approved"
        RETIRED = "retired", "retired"

    key = models.PositiveIntegerField(unique=True)
    name = models.CharField(max_length=80, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    bank = models.ForeignKey("profiles.BaseRewardBank", null=True, on_delete=models.SET_NULL, related_name="+")
    mean = models.JSONField(default=list)
    covariance = models.JSONField(default=list)
    weight = models.FloatField(default=0.0)  # mixture weight
    size = models.PositiveIntegerField(default=0)  # users assigned (hard)
    summary = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.name or f"prototype #{self.key}"


class PrototypeFit(models.Model):
    """One clustering run: how many prototypes, chosen by which criterion, over how many users."""

    version = models.PositiveIntegerField(unique=True)
    k = models.PositiveSmallIntegerField()
    users = models.PositiveIntegerField()
    criterion = models.CharField(max_length=20)
    criterion_scores = models.JSONField(default=dict)
    state = models.JSONField(default=dict)  # the library model's JSON state, for matching ids next time
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
