"""OpenAPI generation: drf-spectacular's AutoSchema, plus the error answers every operation can give.

DRF answers 400 (validation), 401 (no credentials), 403 (not allowed), 404 (no such object, or not yours) and
429 (throttled) on its own; documenting them lets clients and schemathesis check error bodies too.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema

_ERROR = {
    "type": "object",
    "description": "``detail`` says what went wrong; validation errors name each bad field instead",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": True,
}
_DESCRIPTIONS = {
    "400": "invalid input (each bad field named)",
    "401": "no or bad credentials",
    "403": "not allowed for this user",
    "404": "no such object (or not yours)",
    "429": "throttled: retry after the time in the Retry-After header",
}


class TailorAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        codes = ["401", "403", "429"]
        if self.method != "DELETE":
            codes.append("400")
        if "{" in self.path:
            codes.append("404")
        for code in codes:
            responses.setdefault(code, {"content": {"application/json": {"schema": _ERROR}},
                                        "description": _DESCRIPTIONS[code]})
        return responses
