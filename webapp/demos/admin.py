"""Demo sessions in Django admin: browse and search; stages and guests change only through the presenter screen."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from webapp.demos.models import DemoSession, Participant, StageChange


class _RecordInline(admin.TabularInline):
    """A session's rows as a record: shown, never added, edited or deleted here."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ParticipantInline(_RecordInline):
    model = Participant
    fields = ("display_name", "joined_at", "showcase_response")
    readonly_fields = fields


class StageChangeInline(_RecordInline):
    model = StageChange
    fields = ("stage", "by", "at")
    readonly_fields = fields


@admin.register(DemoSession)
class DemoSessionAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "stage", "presenter", "participant_count", "created_at", "closed_at")
    list_filter = ("stage", "show_prototype")
    search_fields = ("name", "code", "presenter__username")
    readonly_fields = ("code", "stage", "presenter", "push_version", "reveal", "export", "default_answer",
                       "created_at", "stage_changed_at", "closed_at")
    fields = ("name", "code", "stage", "presenter", "pairs_per_participant", "show_prototype", "showcase_prompt",
              "expires_at", "default_answer", "reveal", "export", "push_version", "created_at", "stage_changed_at",
              "closed_at")
    inlines = [ParticipantInline, StageChangeInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[DemoSession]:
        return super().get_queryset(request).annotate(n_participants=Count("participants"))

    @admin.display(description="participants", ordering="n_participants")
    def participant_count(self, obj: DemoSession) -> int:
        return int(getattr(obj, "n_participants", 0))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # sessions are made on /demo/new/, where the join code and defaults are set
