"""Base reward banks and per-user reward profiles (weights, posterior, summary), with their history."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class BaseRewardBank(models.Model):
    """A version of the shared base rewards φ; its state is the JSON form of personalization's bank."""

    version = models.PositiveIntegerField(unique=True)
    encoder = models.CharField(max_length=200)
    names = models.JSONField()
    state = models.JSONField()
    is_active = models.BooleanField(default=False, db_index=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=models.Q(is_active=True), name="one_active_bank")
        ]

    def __str__(self) -> str:
        return f"bank v{self.version}"


class RewardProfile(models.Model):
    """A user's reward ``w · φ``; recomputed by a worker from the stored votes, never incrementally."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reward_profile")
    bank = models.ForeignKey(BaseRewardBank, null=True, blank=True, on_delete=models.SET_NULL)
    weights = models.JSONField(default=list)
    covariance = models.JSONField(default=list)
    vote_count = models.PositiveIntegerField(default=0)
    # id of the newest vote included in the last fit; the reconciler refits profiles behind their newest vote.
    fitted_vote_id = models.BigIntegerField(default=0)
    # bumped on every stored fit; claims are made with filter(version=v).update(version=v + 1).
    version = models.PositiveIntegerField(default=0)
    prototype_id = models.IntegerField(null=True, blank=True)
    prototype_confidence = models.FloatField(null=True, blank=True)
    # next pairs [[left_id, right_id], ...] chosen by the worker's active selector after the last fit.
    suggested_pairs = models.JSONField(default=list, blank=True)
    # [[vote_id, contribution], ...]: the votes that most shaped the weights, from the last fit
    influential_votes = models.JSONField(default=list, blank=True)
    summary = models.TextField(blank=True)
    summary_edited = models.BooleanField(default=False)
    # {axis: delta in [-1, 1]} read from the user's edited summary by a worker; it shifts the prior mean
    summary_axes = models.JSONField(default=dict, blank=True)
    # the weights the stored summary was written from: the follower rewrites it only when they moved enough
    summary_weights = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"profile of {self.user_id} v{self.version}"


class ProfileSnapshot(models.Model):
    """The profile after each fit, for the "how it moved" chart."""

    profile = models.ForeignKey(RewardProfile, on_delete=models.CASCADE, related_name="snapshots")
    version = models.PositiveIntegerField()
    weights = models.JSONField()
    stddev = models.JSONField()
    vote_count = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["profile", "version"], name="snapshot_once_per_version")]
        ordering = ["profile", "version"]
