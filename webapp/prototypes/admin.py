"""Prototypes in the Django admin: searchable and filterable; clustering runs and the audit are read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from webapp.prototypes.models import Prototype, PrototypeAudit, PrototypeFit


@admin.register(Prototype)
class PrototypeAdmin(admin.ModelAdmin):
    list_display = ("key", "name", "status", "size", "agreement", "merged_into", "bank", "updated_at")
    list_filter = ("status", "summary_edited", "bank")
    search_fields = ("name", "summary", "=key")
    # numbers the clustering writes stay read-only; status changes (approve, merge, split, retire) go through the
    # review page's services, which also move members and audit: here only the name and the summary
    readonly_fields = ("key", "status", "summary_edited", "bank", "mean", "covariance", "weight", "size", "merged_into", "disagreements",
                       "agreement", "agreement_votes", "updated_at")
    fields = ("key", "name", "summary", *readonly_fields[1:])

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # prototypes come from clustering runs

    def save_model(self, request: HttpRequest, obj: Prototype, form: Any, change: bool) -> None:
        """An admin edit is audited like one on the review page."""
        from webapp.prototypes.services import prototype_snapshot

        old = Prototype.objects.filter(pk=obj.pk).first()
        if old is not None and old.summary != obj.summary:
            obj.summary_edited = bool(obj.summary.strip())  # emptied: workers write it again
        super().save_model(request, obj, form, change)
        if old is not None and change:
            PrototypeAudit.objects.create(actor_id=request.user.pk, action=PrototypeAudit.Action.ADMIN_EDIT,
                                          keys=[obj.key], before=prototype_snapshot(old),
                                          after=prototype_snapshot(obj), note="edited in the Django admin")


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PrototypeFit)
class PrototypeFitAdmin(ReadOnlyAdmin):
    list_display = ("version", "k", "users", "criterion", "created_at")
    list_filter = ("criterion", "k")
    search_fields = ("=version",)


@admin.register(PrototypeAudit)
class PrototypeAuditAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor", "action", "keys", "note")
    list_filter = ("action", "created_at")
    search_fields = ("note", "actor__username")
    date_hierarchy = "created_at"
