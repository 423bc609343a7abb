"""The REST API under /api/: v1 resources, the OpenAPI 3 schema and its Swagger / Redoc pages (assets local)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from webapp.api.views import auth, catalog, exports, jobs, staff, voting

app_name = "api"

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("prompts", catalog.PromptViewSet, basename="prompt")
router.register("responses", catalog.ResponseViewSet, basename="response")
router.register("votes", voting.VoteViewSet, basename="vote")
router.register("jobs", jobs.JobViewSet, basename="job")
router.register("personalize", jobs.PersonalizeViewSet, basename="personalize")
router.register("prototypes", staff.PrototypeViewSet, basename="prototype")
router.register("webhooks", staff.WebhookEndpointViewSet, basename="webhook")
router.register("webhook-deliveries", staff.WebhookDeliveryViewSet, basename="webhook-delivery")

v1 = [
    path("auth/token/", auth.TokenView.as_view(), name="token"),
    path("pairs/next/", voting.PairNextView.as_view(), name="pair-next"),
    path("profile/", voting.MyProfileView.as_view(), name="profile-mine"),
    path("profiles/", voting.ProfileListView.as_view(), name="profile-list"),
    path("profiles/<int:user_id>/", voting.ProfileDetailView.as_view(), name="profile-detail"),
    path("summary/", voting.SummaryView.as_view(), name="summary"),
    path("score/", jobs.ScoreView.as_view(), name="score"),
    path("exports/<str:kind>/", exports.ExportView.as_view(), name="export"),
    path("quality/voters/", staff.VoterQualityView.as_view(), name="quality-voters"),
    path("quality/prototypes/", staff.PrototypeAgreementView.as_view(), name="quality-prototypes"),
    *router.urls,
]



@csrf_exempt  # answers every method with a 404; nothing to protect
def not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Any other path under /api/: a JSON 404, as every API answer is JSON (Django's would be an HTML page)."""
    return JsonResponse({"detail": "no such API path; see /api/docs/"}, status=404)


urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema", template_name="api/redoc.html"),
         name="redoc"),
    re_path(r"^(?P<rest>.*)$", not_found),
]
