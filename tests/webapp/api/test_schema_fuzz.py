"""schemathesis against the live schema of the running app (uvicorn serving the real ASGI app, PostgreSQL, Redis):
every operation, generated inputs, as staff over token auth. Zero server errors, and every response must match
the schema (status code documented, content type, body)."""

from __future__ import annotations

import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import PairFactory, ResponseFactory, UserFactory

MAX_EXAMPLES = 4  # per operation: the whole run stays around a minute on 2 cores
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def api_schema(live_asgi, broker_clean, settings):
    from rest_framework.authtoken.models import Token

    # generated traffic must meet the endpoints, not the throttles
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        "votes": "100000/min", "generation": "100000/min", "auth": "100000/min"}}
    staff = UserFactory(username="fuzz-staff", is_staff=True)
    pair = PairFactory(user=staff)
    ResponseFactory.create_batch(2, prompt=pair.prompt)
    token = Token.objects.create(user=staff)
    schema = schemathesis.openapi.from_url(f"{live_asgi}/api/schema/")
    schema.config.update(base_url=live_asgi, headers={"Authorization": f"Token {token.key}"})
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api_has_no_server_errors_and_matches_its_schema(case) -> None:
    headers = {"Idempotency-Key": str(uuid.uuid4())} if case.operation.path == "/api/v1/votes/" else None
    case.call_and_validate(headers=headers, checks=CHECKS)
