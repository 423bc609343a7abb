"""User prototypes (P-GenRM): clusters of users' reward weights, refitted by a periodic worker job.

``key`` is the library's stable prototype id: a refit matches new clusters to old ones, so a prototype keeps its
key (and its name, status and review history) across refits.

Staff decisions survive a periodic refit (see ``workers/prototype_review.py``): names, summaries written by staff
and approvals stay on the key; a retired key never gets members again (its cluster's users go to their next most
likely prototype); a key merged into another (``merged_into``) hands its cluster's users to that one on every later
refit; keys are never reused, so a split's new keys and any fresh cluster get keys no prototype ever had.
"""

from __future__ import annotations

from django.conf import settings
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
    # written by staff (in the admin): workers never rewrite it; otherwise it follows the centroid
    summary_edited = models.BooleanField(default=False)
    # the key this prototype was merged into by staff: later refits send this cluster's users there
    merged_into = models.PositiveIntegerField(null=True, blank=True)
    # computed by a worker after each clustering (needs the bank's features):
    # [{"prompt", "left", "right", "other_key", "self_margin", "other_margin"}, ...] the pairs on which this
    # prototype's mean weights most disagree with another prototype's
    disagreements = models.JSONField(default=list, blank=True)
    # share of the members' left/right votes that agree with this prototype's predicted preference, and of how many
    agreement = models.FloatField(null=True, blank=True)
    agreement_votes = models.PositiveIntegerField(default=0)
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
    # {prototype key: members} after staff decisions were applied, for the size trend
    sizes = models.JSONField(default=dict, blank=True)
    # the map's 2-D basis, fitted with the clustering so points move smoothly between refits:
    # {"bank_id", "center": (K,), "basis": (K, 2), "scale"}; empty before the first fit that stored one
    projection = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]


class PrototypeAudit(models.Model):
    """One staff action (or a clustering run) on prototypes: who, when, what, and the rows before and after."""

    class Action(models.TextChoices):
        RENAME = "rename", "rename"
        APPROVE = "approve", "approve"
        MERGE = "merge", "merge"
        SPLIT = "split", "split"
        RETIRE = "retire", "retire"
        REFIT_REQUEST = "refit_request", "re-run clustering (requested)"
        REFIT = "refit", "clustering run"
        ADMIN_EDIT = "admin_edit", "edited in the admin"

    # None: done by the system (the periodic refit), not by a person
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    action = models.CharField(max_length=20, choices=Action.choices)
    keys = models.JSONField(default=list)
    before = models.JSONField(default=dict)
    after = models.JSONField(default=dict)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.keys} by {self.actor_id or 'system'}"
