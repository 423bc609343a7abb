"""Prompts and candidate responses; a response's axis scores and embedding are computed once, by a worker."""

from __future__ import annotations

from django.db import models


class Prompt(models.Model):
    class Source(models.TextChoices):
        DEMO = "demo", "demo library"
        USER = "user", "typed by a user"
        IMPORT = "import", "imported"

    text = models.TextField()
    domain = models.CharField(max_length=40, blank=True, db_index=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.DEMO)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["text"], name="prompt_text_unique")]

    def __str__(self) -> str:
        return self.text[:60]


class Response(models.Model):
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="responses")
    text = models.TextField()
    style = models.CharField(max_length=40, blank=True)
    generator = models.CharField(max_length=200, blank=True)
    # Raw named-axis scores in personalization.axes.AXIS_NAMES order; the bank standardises them.
    axis_scores = models.JSONField(null=True, blank=True)
    # float32 bytes of the encoder's embedding of (prompt, response); `encoder` names the model that made it.
    embedding = models.BinaryField(null=True, blank=True)
    encoder = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["prompt", "id"])]

    def __str__(self) -> str:
        return f"{self.style or 'response'} #{self.pk}"

    @property
    def has_features(self) -> bool:
        return self.axis_scores is not None and self.embedding is not None
