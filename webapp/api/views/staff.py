"""Staff resources: prototypes, quality control (flagged voters, agreement per prototype), webhooks."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from webapp.api.permissions import IsStaff
from webapp.api.serializers import (
    PrototypeAgreementSerializer,
    PrototypeSerializer,
    VoterQualitySerializer,
    WebhookDeliverySerializer,
    WebhookEndpointSerializer,
)
from webapp.prototypes.models import Prototype
from webapp.quality.selectors import prototype_agreement, voters_quality
from webapp.webhooks.models import WebhookDelivery, WebhookEndpoint


class PrototypeViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Prototype.objects.order_by("key")
    serializer_class = PrototypeSerializer
    permission_classes = [IsStaff]


class VoterQualityView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        parameters=[OpenApiParameter("flagged", bool, description="only voters below a threshold")],
        responses=VoterQualitySerializer(many=True),
        description="Per voter: gold accuracy, repeat consistency, position bias, share of too-fast votes, and "
                    "the thresholds crossed (TAILOR_QUALITY). Flagged voters are left out of the base-reward "
                    "refit; their own profile still uses all their votes.",
    )
    def get(self, request: Request) -> ApiResponse:
        rows = voters_quality()
        if request.query_params.get("flagged", "").lower() in ("1", "true"):
            rows = [q for q in rows if q.flagged]
        return ApiResponse([{**q.__dict__, "flagged": q.flagged} for q in rows])


class PrototypeAgreementView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(responses=PrototypeAgreementSerializer(many=True),
                   description="Krippendorff's alpha among each prototype's members over shared response pairs.")
    def get(self, request: Request) -> ApiResponse:
        return ApiResponse([a.__dict__ for a in prototype_agreement()])


class WebhookEndpointViewSet(viewsets.ModelViewSet):
    queryset = WebhookEndpoint.objects.order_by("id")
    serializer_class = WebhookEndpointSerializer
    permission_classes = [IsStaff]

    def perform_create(self, serializer: WebhookEndpointSerializer) -> None:
        serializer.save(created_by=self.request.user)


@extend_schema(parameters=[OpenApiParameter("endpoint", int, description="only this endpoint's deliveries")])
class WebhookDeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The delivery log: what was sent where, how many attempts, the last status or error."""

    serializer_class = WebhookDeliverySerializer
    permission_classes = [IsStaff]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        deliveries = WebhookDelivery.objects.order_by("-id")
        endpoint = self.request.query_params.get("endpoint")
        return deliveries.filter(endpoint_id=int(endpoint)) if endpoint and endpoint.isdigit() else deliveries
