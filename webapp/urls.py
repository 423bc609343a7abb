from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from webapp.accounts import views as account_views
from webapp.demos import views as demo_views
from webapp.generation import views as generation_views
from webapp.profiles import views as profile_views
from webapp.prototypes.urls import urlpatterns as prototype_urlpatterns
from webapp.quality import views as quality_views
from webapp.votes import views as vote_views

urlpatterns = [
    path("", account_views.home, name="home"),
    path("accounts/signup/", account_views.signup, name="signup"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password_reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path("accounts/password_reset/done/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("accounts/reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(),
         name="password_reset_confirm"),
    path("accounts/reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("vote/", vote_views.vote, name="vote"),
    path("vote/skip/", vote_views.skip, name="vote-skip"),
    path("vote/undo/", vote_views.undo, name="vote-undo"),
    path("compare/", generation_views.compare_index, name="compare-index"),
    path("compare/custom/", generation_views.compare_custom, name="compare-custom"),
    path("compare/<int:prompt_id>/", generation_views.compare, name="compare"),
    path("compare/jobs/<uuid:job_id>/cancel/", generation_views.compare_job_cancel, name="compare-cancel"),
    path("me/", profile_views.me, name="me"),
    path("me/data.json", profile_views.data_download, name="me-data"),
    path("me/delete/", profile_views.data_delete, name="me-delete"),
    path("me/delete-account/", account_views.account_delete_view, name="me-delete-account"),
    path("me/summary/", profile_views.summary_update, name="me-summary"),
    path("demo/new/", demo_views.session_new, name="demo-new"),
    path("demo/join/", demo_views.join, name="demo-join"),
    path("demo/<str:code>/", demo_views.room, name="demo-room"),
    path("demo/<str:code>/vote/", demo_views.room_vote, name="demo-vote"),
    path("demo/<str:code>/vote/skip/", demo_views.room_skip, name="demo-skip"),
    path("demo/<str:code>/vote/undo/", demo_views.room_undo, name="demo-undo"),
    path("demo/<str:code>/present/", demo_views.present, name="demo-present"),
    path("demo/<str:code>/stage/", demo_views.stage, name="demo-stage"),
    path("demo/<str:code>/export.json", demo_views.export, name="demo-export"),
    path("healthz", account_views.healthz, name="healthz"),
    *prototype_urlpatterns,
    path("admin/", admin.site.urls),
    path("api/", include("webapp.api.urls")),
    path("staff/quality/", quality_views.voters, name="staff-quality"),
]
