"""Staff review of prototypes; spread into the root URLconf (full paths, so no include prefix is needed)."""

from __future__ import annotations

from django.urls import path

from webapp.prototypes import views

urlpatterns = [
    path("staff/prototypes/", views.review, name="prototype-review"),
    path("staff/prototypes/merge/", views.merge, name="prototypes-merge"),
    path("staff/prototypes/refit/", views.refit, name="prototypes-refit"),
    path("staff/prototypes/<int:key>/", views.detail, name="prototype-detail"),
    path("staff/prototypes/<int:key>/rename/", views.rename, name="prototype-rename"),
    path("staff/prototypes/<int:key>/approve/", views.approve, name="prototype-approve"),
    path("staff/prototypes/<int:key>/retire/", views.retire, name="prototype-retire"),
    path("staff/prototypes/<int:key>/split/", views.split, name="prototype-split"),
]
