"""Voting from code: the next pair for me, votes (created once per Idempotency-Key), my profile and summary."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from webapp.api.permissions import IsStaff
from webapp.api.serializers import (
    PairSerializer,
    ProfileSerializer,
    SummarySerializer,
    VoteCreateSerializer,
    VoteSerializer,
)
from webapp.api.throttles import VotesThrottle
from webapp.profiles.models import RewardProfile
from webapp.profiles.selectors import profile_get
from webapp.profiles.services import SummaryRejected, summary_edit
from webapp.votes.models import Vote
from webapp.votes.selectors import pair_next
from webapp.votes.services import VoteRejected, vote_record

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key", OpenApiTypes.UUID, OpenApiParameter.HEADER, required=True,
    description="a UUID made by the client per vote: resending it returns the stored vote (200), never a second")


class PairNextView(APIView):
    @extend_schema(responses={200: PairSerializer, 204: OpenApiResponse(description="nothing left to ask")},
                   description="The pair to vote on now (the same pending pair until it is voted or skipped).")
    def get(self, request: Request) -> ApiResponse:
        pair = pair_next(user=request.user)
        if pair is None:
            return ApiResponse(status=status.HTTP_204_NO_CONTENT)
        return ApiResponse(PairSerializer(pair).data)


@extend_schema(parameters=[OpenApiParameter("user", int, description="staff: only this user's votes")])
class VoteViewSet(mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Votes: users list and read their own, staff everyone's."""

    serializer_class = VoteSerializer

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if getattr(self, "swagger_fake_view", False):
            return Vote.objects.none()
        votes = Vote.objects.order_by("-id")
        if not self.request.user.is_staff:
            return votes.filter(user=self.request.user)
        user = self.request.query_params.get("user")
        return votes.filter(user_id=int(user)) if user is not None and user.isdigit() else votes

    def get_throttles(self):  # type: ignore[no-untyped-def]
        return [VotesThrottle()] if self.action == "create" else super().get_throttles()

    @extend_schema(
        request=VoteCreateSerializer, parameters=[IDEMPOTENCY_HEADER],
        responses={201: VoteSerializer, 200: VoteSerializer,
                   409: OpenApiResponse(description="pair not shown to you, skipped, already voted, or the key "
                                                    "belongs to another vote")},
    )
    def create(self, request: Request) -> ApiResponse:
        raw_key = request.headers.get("Idempotency-Key", "")
        try:
            key = uuid.UUID(raw_key)
        except ValueError:
            raise ValidationError({"Idempotency-Key": "send a UUID in the Idempotency-Key header"}) from None
        form = VoteCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            result = vote_record(user=request.user, pair_id=data["pair"], idempotency_key=key, choice=data["choice"],
                                 strength=data["strength"], rationale=data["rationale"],
                                 time_to_vote_ms=data["time_to_vote_ms"])
        except VoteRejected as exc:
            return ApiResponse({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return ApiResponse(VoteSerializer(result.vote).data,
                           status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


def _profile_body(user_id: int) -> dict[str, object]:
    confident = settings.PERSONALIZATION["confident_votes"]
    view = profile_get(user_id=user_id, confident_votes=confident)
    profile = RewardProfile.objects.select_related("bank").filter(user_id=user_id).first()
    return {
        "user": user_id, "version": view.version, "vote_count": view.vote_count,
        "votes_to_confident": view.votes_to_confident,
        "bank_version": profile.bank.version if profile is not None and profile.bank is not None else None,
        "axes": [{"name": a.name, "weight": a.weight, "stddev": a.stddev} for a in view.axes],
        "covariance": profile.covariance if profile is not None and view.axes else [],
        "prototype": profile.prototype_id if profile is not None else None,
        "prototype_confidence": profile.prototype_confidence if profile is not None else None,
        "summary": profile.summary if profile is not None else "",
        "summary_edited": profile.summary_edited if profile is not None else False,
    }


class MyProfileView(APIView):
    @extend_schema(responses=ProfileSerializer, description="My reward profile: weights with posterior spread "
                                                            "and covariance, prototype, summary.")
    def get(self, request: Request) -> ApiResponse:
        return ApiResponse(_profile_body(request.user.pk))


class ProfileDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: ProfileSerializer, 404: OpenApiResponse(description="no such user")},
                   description="A user's profile: one's own, or anyone's for staff.")
    def get(self, request: Request, user_id: int) -> ApiResponse:
        from django.contrib.auth import get_user_model

        if user_id != request.user.pk and not request.user.is_staff:
            return ApiResponse({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
        user = get_object_or_404(get_user_model(), pk=user_id)
        return ApiResponse(_profile_body(user.pk))


class ProfileListView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(responses=ProfileSerializer(many=True), description="Every fitted profile (staff).")
    def get(self, request: Request) -> ApiResponse:
        user_ids = RewardProfile.objects.order_by("user_id").values_list("user_id", flat=True)[:1000]
        return ApiResponse([_profile_body(uid) for uid in user_ids])


class SummaryView(APIView):
    @extend_schema(responses=SummarySerializer, description="My summary (Tailor's, or my own words).")
    def get(self, request: Request) -> ApiResponse:
        profile = RewardProfile.objects.filter(user=request.user).first()
        return ApiResponse({"summary": profile.summary if profile else "",
                            "edited": profile.summary_edited if profile else False})

    @extend_schema(request=SummarySerializer, responses=SummarySerializer,
                   description="Replace my summary with my own words (a worker reads them back onto the axes and "
                               "nudges my prior); an empty summary hands it back to Tailor.")
    def put(self, request: Request) -> ApiResponse:
        form = SummarySerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            profile = summary_edit(user_id=request.user.pk, text=form.validated_data["summary"])
        except SummaryRejected as exc:
            raise ValidationError({"summary": str(exc)}) from None
        return ApiResponse({"summary": profile.summary, "edited": profile.summary_edited})
