"""Exports as JSON Lines, streamed: DPO triples, ties, both-bad and raw votes. Users export their own votes;
staff export anyone's, a prototype's or everything (the same rows ``manage.py export_preferences`` writes)."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.views import APIView

from webapp.exports.selectors import KINDS, ExportScope, export_rows

STREAM_BATCH = 500


async def _batched_async(lines: Iterator[str]) -> AsyncIterator[str]:
    def take() -> str:
        return "".join(itertools.islice(lines, STREAM_BATCH))

    # one worker thread for the whole response: the database cursor lives in it
    take_async = sync_to_async(take, thread_sensitive=True)
    while chunk := await take_async():
        yield chunk


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise ValidationError({name: "must be a whole number"})
    return int(raw)


class ExportView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=list(KINDS)),
            OpenApiParameter("user", int, description="staff: this user's votes (users always get their own)"),
            OpenApiParameter("prototype", int, description="staff: the votes of this prototype's members"),
            OpenApiParameter("exclude_flagged", bool, description="staff: leave out flagged voters"),
        ],
        responses={(200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.STR, description="JSON Lines"),
                   403: OpenApiResponse(description="another user's or a prototype's data, not staff")},
    )
    def get(self, request: Request, kind: str) -> StreamingHttpResponse:
        if kind not in KINDS:
            raise ValidationError({"kind": f"one of {list(KINDS)}"})
        user_id, prototype = _int_param(request, "user"), _int_param(request, "prototype")
        exclude_flagged = request.query_params.get("exclude_flagged", "").lower() in ("1", "true")
        if not request.user.is_staff:
            if (user_id not in (None, request.user.pk)) or prototype is not None or exclude_flagged:
                raise PermissionDenied("you can export your own votes only")
            user_id = request.user.pk
        if user_id is not None and prototype is not None:
            raise ValidationError({"prototype": "choose a user or a prototype, not both"})
        scope = ExportScope(user_id=user_id, prototype_key=prototype, exclude_flagged=exclude_flagged)
        lines = (json.dumps(row, ensure_ascii=False) + "\n" for row in export_rows(kind=kind, scope=scope))
        # Under ASGI a sync iterator would be read whole into memory before the first byte is sent; an async
        # one streams, reading the rows in batches on a worker thread.
        body = _batched_async(lines) if isinstance(request._request, ASGIRequest) else lines
        response = StreamingHttpResponse(body, content_type="application/x-ndjson")
        response["Content-Disposition"] = f'attachment; filename="tailor-{kind}.jsonl"'
        return response
