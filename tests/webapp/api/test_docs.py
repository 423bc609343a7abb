"""The schema and its documentation pages are served by this instance: no CDN, assets found."""

from __future__ import annotations

import re

import pytest


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_load_every_asset_from_this_instance(client, page) -> None:
    html = client.get(page).content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/static/drf_spectacular_sidecar/") for a in assets), assets
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert len(body) > 100, asset


@pytest.mark.django_db
def test_schema_is_openapi_3_with_token_auth_and_every_resource(client) -> None:
    schema = client.get("/api/schema/?format=json").json()
    assert schema["openapi"].startswith("3.")
    assert "tokenAuth" in schema["components"]["securitySchemes"]
    for path in ("/api/v1/votes/", "/api/v1/pairs/next/", "/api/v1/profile/", "/api/v1/score/",
                 "/api/v1/personalize/", "/api/v1/summary/", "/api/v1/prompts/import/", "/api/v1/exports/{kind}/",
                 "/api/v1/prototypes/", "/api/v1/webhooks/", "/api/v1/quality/voters/"):
        assert path in schema["paths"], path
    vote_create = schema["paths"]["/api/v1/votes/"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["required"] for p in vote_create["parameters"])


@pytest.mark.django_db
def test_unknown_api_paths_answer_json_404(client) -> None:
    response = client.delete("/api/v1/nothing-here/")
    assert response.status_code == 404 and response.json()["detail"].startswith("no such API path")
