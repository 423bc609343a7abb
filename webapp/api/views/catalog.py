"""Prompts and responses: everyone signed in reads, staff create, edit, delete and bulk-import."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse

from webapp.api.permissions import IsStaff, IsStaffOrReadOnly
from webapp.api.serializers import (
    ImportErrorSerializer,
    ImportRequestSerializer,
    ImportResultSerializer,
    JobSerializer,
    PromptSerializer,
    ResponseSerializer,
)
from webapp.api.services import features_start
from webapp.catalog.imports import ImportFileError, import_rows_parse
from webapp.catalog.models import Prompt, Response
from webapp.catalog.services import CatalogInUse, prompt_delete, response_delete, responses_import

MAX_IMPORT_BYTES = 10 * 1024 * 1024


class PromptViewSet(viewsets.ModelViewSet):
    queryset = Prompt.objects.order_by("id")
    serializer_class = PromptSerializer
    permission_classes = [IsStaffOrReadOnly]

    def perform_create(self, serializer: PromptSerializer) -> None:
        serializer.save(source=Prompt.Source.IMPORT)

    @extend_schema(responses={204: None, 409: OpenApiResponse(description="shown in pairs: votes depend on it")})
    def destroy(self, request: Request, *args: object, **kwargs: object) -> ApiResponse:
        try:
            prompt_delete(prompt_id=self.get_object().pk)
        except CatalogInUse as exc:
            return ApiResponse({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return ApiResponse(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request={"multipart/form-data": ImportRequestSerializer},
        responses={200: ImportResultSerializer, 202: ImportResultSerializer, 400: ImportErrorSerializer},
        description="Bulk import of prompts and responses from JSONL or CSV. The whole file is validated first: "
                    "any bad row refuses the file, with every bad row's number and problems, and nothing is "
                    "stored. New responses get their features from a gpu worker: 202 with the features job.",
    )
    @action(detail=False, methods=["post"], url_path="import", permission_classes=[IsStaff],
            parser_classes=[MultiPartParser, FormParser], serializer_class=ImportRequestSerializer)
    def import_file(self, request: Request) -> ApiResponse:
        form = ImportRequestSerializer(data=request.data)
        if not form.is_valid():
            return ApiResponse({"detail": "the request is not a file upload this endpoint reads", "errors": [],
                                "fields": form.errors}, status=status.HTTP_400_BAD_REQUEST)
        upload = form.validated_data["file"]
        if upload.size > MAX_IMPORT_BYTES:
            return ApiResponse({"detail": f"files are limited to {MAX_IMPORT_BYTES // 1024 // 1024} MB",
                                "errors": []}, status=status.HTTP_400_BAD_REQUEST)
        fmt = form.validated_data.get("format") or ("csv" if upload.name.lower().endswith(".csv") else "jsonl")
        try:
            rows, errors = import_rows_parse(content=upload.read(), fmt=fmt)
        except ImportFileError as exc:
            return ApiResponse({"detail": str(exc), "errors": []}, status=status.HTTP_400_BAD_REQUEST)
        if errors:
            return ApiResponse({
                "detail": f"{len(errors)} bad rows: nothing was imported",
                "errors": [{"row": e.row, "errors": e.errors} for e in errors],
            }, status=status.HTTP_400_BAD_REQUEST)
        result = responses_import(rows=rows)
        job = features_start(user=request.user, response_ids=result.response_ids) if result.response_ids else None
        body = {"prompts_created": result.prompts_created, "responses_created": result.responses_created,
                "responses_skipped": result.responses_skipped,
                "features_job": JobSerializer(job).data if job is not None else None}
        return ApiResponse(body, status=status.HTTP_202_ACCEPTED if job is not None else status.HTTP_200_OK)


@extend_schema(parameters=[OpenApiParameter("prompt", int, description="only the responses to this prompt")])
class ResponseViewSet(viewsets.ModelViewSet):
    serializer_class = ResponseSerializer
    permission_classes = [IsStaffOrReadOnly]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        responses = Response.objects.order_by("id")
        prompt = self.request.query_params.get("prompt")
        if prompt is not None and prompt.isdigit():
            responses = responses.filter(prompt_id=int(prompt))
        return responses

    def perform_create(self, serializer: ResponseSerializer) -> None:
        response = serializer.save(generator="api")
        features_start(user=self.request.user, response_ids=[response.pk])

    def perform_update(self, serializer: ResponseSerializer) -> None:
        instance = serializer.instance
        moved = ("text" in serializer.validated_data and serializer.validated_data["text"] != instance.text) or (
            "prompt" in serializer.validated_data and serializer.validated_data["prompt"] != instance.prompt)
        if not moved:
            serializer.save()
            return
        # new text or prompt: the old features no longer describe it; a worker recomputes them
        response = serializer.save(axis_scores=None, embedding=None, encoder="")
        features_start(user=self.request.user, response_ids=[response.pk])

    @extend_schema(responses={204: None, 409: OpenApiResponse(description="shown in pairs: votes depend on it")})
    def destroy(self, request: Request, *args: object, **kwargs: object) -> ApiResponse:
        try:
            response_delete(response_id=self.get_object().pk)
        except CatalogInUse as exc:
            return ApiResponse({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return ApiResponse(status=status.HTTP_204_NO_CONTENT)
