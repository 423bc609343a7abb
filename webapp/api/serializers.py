"""Serializers: the API's boundary; every input is validated here before a service sees it."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import serializers
from rest_framework.validators import UniqueValidator

from webapp.api.models import ApiJob
from webapp.api.services import MAX_ANSWER_CHARS, MAX_PROMPT_CHARS, MAX_SCORE_ANSWERS
from webapp.catalog.imports import MAX_LABEL_CHARS, MAX_RESPONSE_CHARS
from webapp.catalog.models import Prompt, Response
from webapp.generation.models import GenerationJob
from webapp.profiles.services import MAX_SUMMARY_CHARS
from webapp.prototypes.models import Prototype
from webapp.votes.models import Pair, Vote
from webapp.webhooks.models import Event, WebhookDelivery, WebhookEndpoint


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise serializers.ValidationError("contains a NUL character")
    return value


class PromptSerializer(serializers.ModelSerializer):
    text = serializers.CharField(max_length=MAX_PROMPT_CHARS, validators=[
        _no_nul, UniqueValidator(queryset=Prompt.objects.all(), message="a prompt with this text exists")])
    domain = serializers.CharField(max_length=MAX_LABEL_CHARS, required=False, allow_blank=True,
                                   validators=[_no_nul])
    responses = serializers.IntegerField(source="responses.count", read_only=True)

    class Meta:
        model = Prompt
        fields = ["id", "text", "domain", "source", "responses", "created_at"]
        read_only_fields = ["source", "created_at"]


class ResponseSerializer(serializers.ModelSerializer):
    text = serializers.CharField(max_length=MAX_RESPONSE_CHARS, validators=[_no_nul])
    style = serializers.CharField(max_length=MAX_LABEL_CHARS, required=False, allow_blank=True,
                                  validators=[_no_nul])
    has_features = serializers.BooleanField(read_only=True)

    class Meta:
        model = Response
        fields = ["id", "prompt", "text", "style", "generator", "has_features", "created_at"]
        read_only_fields = ["generator", "created_at"]


class ImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="JSONL (one object per line) or CSV with a header row; columns prompt, "
                                           "response (required), style, domain")
    format = serializers.ChoiceField(choices=["jsonl", "csv"], required=False,
                                     help_text="default: from the file name (.csv is CSV, anything else JSONL)")


class RowErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    errors = serializers.DictField(child=serializers.CharField())


class ImportErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = RowErrorSerializer(many=True, help_text="every bad row of the file, with what is wrong in it")
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False,
                                   help_text="problems with the request itself (no file, unknown format)")


class JobSerializer(serializers.ModelSerializer):
    progress = serializers.FloatField(read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = ApiJob
        fields = ["id", "kind", "status", "progress", "done", "total", "result", "error", "created_at",
                  "finished_at", "url"]
        read_only_fields = fields

    def get_url(self, job: ApiJob) -> str:
        return reverse("api:job-detail", kwargs={"pk": job.pk})


class ImportResultSerializer(serializers.Serializer):
    prompts_created = serializers.IntegerField()
    responses_created = serializers.IntegerField()
    responses_skipped = serializers.IntegerField()
    features_job = JobSerializer(allow_null=True)


class _Text(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()


class PairSerializer(serializers.ModelSerializer):
    prompt = _Text(read_only=True)
    left = _Text(read_only=True)
    right = _Text(read_only=True)

    class Meta:
        model = Pair
        fields = ["id", "prompt", "left", "right", "source", "shown_at"]
        read_only_fields = fields


class VoteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Vote
        fields = ["id", "user", "pair", "choice", "strength", "rationale", "time_to_vote_ms", "idempotency_key",
                  "created_at"]
        read_only_fields = fields


class VoteCreateSerializer(serializers.Serializer):
    pair = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    choice = serializers.ChoiceField(choices=Vote.Choice.choices)
    strength = serializers.ChoiceField(choices=Vote.Strength.choices, default=Vote.Strength.CLEAR)
    rationale = serializers.CharField(max_length=280, required=False, allow_blank=True, default="",
                                      validators=[_no_nul])
    time_to_vote_ms = serializers.IntegerField(min_value=0, max_value=86_400_000, required=False, allow_null=True,
                                               default=None)


class AxisSerializer(serializers.Serializer):
    name = serializers.CharField()
    weight = serializers.FloatField()
    stddev = serializers.FloatField()


class ProfileSerializer(serializers.Serializer):
    user = serializers.IntegerField()
    version = serializers.IntegerField()
    vote_count = serializers.IntegerField()
    votes_to_confident = serializers.IntegerField()
    bank_version = serializers.IntegerField(allow_null=True)
    axes = AxisSerializer(many=True)
    covariance = serializers.ListField(child=serializers.ListField(child=serializers.FloatField()),
                                       help_text="posterior covariance of the weights (K x K, axes order)")
    prototype = serializers.IntegerField(allow_null=True)
    prototype_confidence = serializers.FloatField(allow_null=True)
    summary = serializers.CharField(allow_blank=True)
    summary_edited = serializers.BooleanField()


class PrototypeSerializer(serializers.ModelSerializer):
    label = serializers.CharField(source="__str__", read_only=True)

    class Meta:
        model = Prototype
        fields = ["id", "key", "name", "label", "status", "size", "weight", "mean", "summary", "updated_at"]
        read_only_fields = fields


class ScoreRequestSerializer(serializers.Serializer):
    prompt = serializers.CharField(max_length=MAX_PROMPT_CHARS, validators=[_no_nul])
    answers = serializers.ListField(
        child=serializers.CharField(max_length=MAX_ANSWER_CHARS, validators=[_no_nul]),
        min_length=1, max_length=MAX_SCORE_ANSWERS)


class PersonalizeRequestSerializer(serializers.Serializer):
    prompt_id = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    prompt = serializers.CharField(required=False, max_length=500, validators=[_no_nul],
                                   help_text="a new prompt (≤ 500 characters) instead of prompt_id")
    method = serializers.ChoiceField(choices=GenerationJob.Method.choices, default=GenerationJob.Method.SUMMARY)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("prompt_id" in attrs) == ("prompt" in attrs):
            raise serializers.ValidationError("send exactly one of prompt_id and prompt")
        return attrs


_PROGRESS = {"queued": 0.0, "running": 0.5, "done": 1.0, "failed": 1.0}


class GenerationJobSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField(help_text="0 queued, 0.5 writing, 1 finished")
    url = serializers.SerializerMethodField()
    stream_url = serializers.SerializerMethodField(help_text="websocket streaming the text (session, or an `Authorization: Token <key>` header)")

    class Meta:
        model = GenerationJob
        fields = ["id", "prompt", "method", "status", "progress", "default_text", "personal_text", "summary_used",
                  "why", "pair", "error", "first_token_ms", "created_at", "finished_at", "url", "stream_url"]
        read_only_fields = fields

    def get_progress(self, job: GenerationJob) -> float:
        return _PROGRESS.get(job.status, 0.0)

    def get_url(self, job: GenerationJob) -> str:
        return reverse("api:personalize-detail", kwargs={"pk": job.pk})

    def get_stream_url(self, job: GenerationJob) -> str:
        return f"/ws/jobs/{job.pk}/"


class SummarySerializer(serializers.Serializer):
    summary = serializers.CharField(max_length=MAX_SUMMARY_CHARS, allow_blank=True, validators=[_no_nul],
                                    help_text="your own words; empty hands the summary back to Tailor")
    edited = serializers.BooleanField(read_only=True)


class WebhookEndpointSerializer(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.ChoiceField(choices=Event.choices), min_length=1,
                                   max_length=len(Event.values))
    url = serializers.URLField(max_length=500)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, validators=[_no_nul])

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "events", "description", "is_active", "secret", "created_at"]
        read_only_fields = ["secret", "created_at"]

    def validate_url(self, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise serializers.ValidationError("the URL must be http:// or https://")
        return url

    def validate_events(self, events: list[str]) -> list[str]:
        return sorted(set(events))


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = ["id", "endpoint", "event", "status", "attempts", "response_status", "error", "body", "created_at",
                  "last_attempt_at", "delivered_at"]
        read_only_fields = fields


class VoterQualitySerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    votes = serializers.IntegerField()
    gold_votes = serializers.IntegerField()
    gold_accuracy = serializers.FloatField(allow_null=True)
    repeat_votes = serializers.IntegerField()
    repeat_consistency = serializers.FloatField(allow_null=True)
    sided_votes = serializers.IntegerField()
    left_share = serializers.FloatField(allow_null=True)
    timed_votes = serializers.IntegerField()
    fast_share = serializers.FloatField(allow_null=True)
    flagged = serializers.BooleanField()
    flags = serializers.ListField(child=serializers.CharField())


class PrototypeAgreementSerializer(serializers.Serializer):
    key = serializers.IntegerField()
    name = serializers.CharField()
    members = serializers.IntegerField()
    units = serializers.IntegerField(help_text="response pairs voted on by at least two members")
    alpha = serializers.FloatField(allow_null=True, help_text="Krippendorff's alpha (ordinal); null: too few data")

