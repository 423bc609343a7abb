"""Work that takes a worker: score texts under my reward, personalized answers. Both answer 202 with a job.

Scoring needs features (the encoder when the bank has latent bases), so it never runs in the web process and
the API does not wait on it: poll the job (``url``) until ``status`` is ``done``. Personalized answers stream to
the job's websocket (``stream_url``, session auth) as they are written; the finished texts are on the job.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from webapp.api.models import ApiJob
from webapp.api.serializers import (
    GenerationJobSerializer,
    JobSerializer,
    PersonalizeRequestSerializer,
    ScoreRequestSerializer,
)
from webapp.api.services import JobRejected, score_start
from webapp.api.throttles import GenerationThrottle
from webapp.catalog.models import Prompt
from webapp.generation.models import GenerationJob
from webapp.generation.services import GenerationRejected, compare_dispatch, compare_start, prompt_from_user


class ScoreView(APIView):
    throttle_classes = [GenerationThrottle]

    @extend_schema(request=ScoreRequestSerializer,
                   responses={202: JobSerializer, 409: OpenApiResponse(description="no reward profile yet")},
                   description="My reward r(x, y) = w · φ(x, y) for each answer to the prompt, with each named "
                               "axis' contribution. A worker computes it: poll the returned job.")
    def post(self, request: Request) -> ApiResponse:
        form = ScoreRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            job = score_start(user=request.user, **form.validated_data)
        except JobRejected as exc:
            if exc.conflict:
                return ApiResponse({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
            raise ValidationError({"detail": str(exc)}) from None
        return ApiResponse(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class JobViewSet(mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Scoring and features jobs with their progress: one's own, or everyone's for staff."""

    serializer_class = JobSerializer

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if getattr(self, "swagger_fake_view", False):  # schema generation: no signed-in user
            return ApiJob.objects.none()
        jobs = ApiJob.objects.order_by("-created_at")
        return jobs if self.request.user.is_staff else jobs.filter(user=self.request.user)


class PersonalizeViewSet(mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Personalized answers: the prompt answered by default and for me, written by a gpu worker."""

    serializer_class = GenerationJobSerializer

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if getattr(self, "swagger_fake_view", False):
            return GenerationJob.objects.none()
        jobs = GenerationJob.objects.order_by("-created_at")
        return jobs if self.request.user.is_staff else jobs.filter(user=self.request.user)

    def get_throttles(self):  # type: ignore[no-untyped-def]
        return [GenerationThrottle()] if self.action == "create" else super().get_throttles()

    @extend_schema(request=PersonalizeRequestSerializer,
                   responses={202: GenerationJobSerializer, 404: OpenApiResponse(description="no such prompt"),
                              409: OpenApiResponse(description="3 answers already being written")},
                   description="Start a personalized answer (method: summary, best_of_n or guided). 202 with the "
                               "job: poll ``url``, or listen on ``stream_url`` for the text as it is written.")
    def create(self, request: Request) -> ApiResponse:
        form = PersonalizeRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            if "prompt_id" in data:
                prompt = Prompt.objects.filter(pk=data["prompt_id"]).first()
                if prompt is None:
                    raise NotFound("no such prompt")
            else:
                prompt = prompt_from_user(text=data["prompt"])
            job = compare_start(user=request.user, prompt=prompt, method=data["method"])
        except GenerationRejected as exc:
            code = status.HTTP_409_CONFLICT if "being written" in str(exc) else status.HTTP_400_BAD_REQUEST
            return ApiResponse({"detail": str(exc)}, status=code)
        # a script may never open the socket: send it to a worker now (the page sends it when its socket connects)
        compare_dispatch(job_id=str(job.pk), user_id=request.user.pk)
        job.refresh_from_db()
        return ApiResponse(GenerationJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
