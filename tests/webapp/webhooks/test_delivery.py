"""Webhooks delivered for real: a tiny HTTP server on 127.0.0.1 records what arrives (and fails when told to),
a real Celery worker on the real broker delivers, retries with backoff, and logs every attempt."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import wait_until
from tests.factories import PairFactory
from webapp.votes.services import vote_record
from webapp.webhooks.models import WebhookDelivery
from webapp.webhooks.services import (
    WebhookRejected,
    endpoint_create,
    retry_delay,
    signature_for,
    webhook_emit,
)


class Receiver:
    """Records each request (headers, exact body); answers the first ``fail_first`` requests with 500."""

    def __init__(self, fail_first: int) -> None:
        self.fail_first = fail_first
        self.requests: list[tuple[dict[str, str], bytes, int]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = 500 if len(receiver.requests) < receiver.fail_first else 204
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body, status))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver_factory() -> Iterator[object]:
    servers: list[Receiver] = []

    def make(fail_first: int = 0) -> Receiver:
        servers.append(Receiver(fail_first))
        return servers[-1]

    yield make
    for r in servers:
        r.server.shutdown()
        r.server.server_close()


@pytest.fixture
def fast_retries(settings) -> None:
    settings.TAILOR_WEBHOOKS = {**settings.TAILOR_WEBHOOKS, "backoff_seconds": 0.2, "backoff_max_seconds": 1.0,
                                "timeout_seconds": 5.0}


def test_signature_is_hmac_sha256_of_the_exact_body() -> None:
    body = b'{"event":"vote.created"}'
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert signature_for(secret="s3cret", body=body) == f"sha256={expected}"
    assert signature_for(secret="s3cret", body=body + b" ") != f"sha256={expected}"


def test_backoff_grows_exponentially_with_jitter_and_a_ceiling(settings) -> None:
    settings.TAILOR_WEBHOOKS = {**settings.TAILOR_WEBHOOKS, "backoff_seconds": 10.0, "backoff_max_seconds": 60.0}
    rng = random.Random(0)
    delays = [[retry_delay(attempt, rng=rng) for _ in range(50)] for attempt in (1, 2, 3, 6)]
    assert all(5.0 <= d <= 10.0 for d in delays[0]) and all(10.0 <= d <= 20.0 for d in delays[1])
    assert all(20.0 <= d <= 40.0 for d in delays[2]) and all(30.0 <= d <= 60.0 for d in delays[3])
    assert len({round(d, 6) for d in delays[1]}) > 40  # jittered, not one fixed delay


@pytest.mark.django_db
def test_endpoints_need_an_http_url_and_known_events() -> None:
    with pytest.raises(WebhookRejected, match="http"):
        endpoint_create(url="ftp://example.org/x", events=["vote.created"])
    with pytest.raises(WebhookRejected, match="unknown events"):
        endpoint_create(url="http://127.0.0.1/x", events=["vote.deleted"])
    with pytest.raises(WebhookRejected, match="at least one"):
        endpoint_create(url="http://127.0.0.1/x", events=[])


@pytest.mark.django_db
def test_only_subscribed_active_endpoints_get_a_delivery(django_capture_on_commit_callbacks) -> None:
    votes = endpoint_create(url="http://127.0.0.1:9/a", events=["vote.created"])
    endpoint_create(url="http://127.0.0.1:9/b", events=["profile.updated"])
    off = endpoint_create(url="http://127.0.0.1:9/c", events=["vote.created"])
    off.is_active = False
    off.save(update_fields=["is_active"])
    with django_capture_on_commit_callbacks() as callbacks:
        ids = webhook_emit(event="vote.created", data={"vote_id": 1})
    assert [WebhookDelivery.objects.get(pk=i).endpoint_id for i in ids] == [votes.pk]
    assert len(callbacks) == 1  # one task, sent after commit


@pytest.mark.django_db(transaction=True)
def test_a_vote_is_delivered_signed_and_retried_after_a_failure(celery_worker_live, receiver_factory,
                                                               fast_retries) -> None:
    receiver = receiver_factory(fail_first=1)
    endpoint = endpoint_create(url=receiver.url, events=["vote.created"])
    pair = PairFactory()
    vote = vote_record(user=pair.user, pair_id=pair.pk, idempotency_key=uuid.uuid4(), choice="tie").vote
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert wait_until(lambda: WebhookDelivery.objects.get(pk=delivery.pk).status == "delivered", timeout=30)
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and delivery.response_status == 204 and delivery.error == ""
    assert [status for _, _, status in receiver.requests] == [500, 204]
    (_, first_body, _), (headers, body, _) = receiver.requests
    assert body == first_body == delivery.body.encode()  # the retry sends the same bytes
    assert headers["x-tailor-signature"] == signature_for(secret=endpoint.secret, body=body)
    assert headers["x-tailor-event"] == "vote.created" and headers["x-tailor-delivery"] == str(delivery.pk)
    payload = json.loads(body)
    assert payload["event"] == "vote.created"
    assert payload["data"]["vote_id"] == vote.pk and payload["data"]["choice"] == "tie"


@pytest.mark.django_db(transaction=True)
def test_a_receiver_that_keeps_failing_is_given_up_on_and_logged(celery_worker_live, receiver_factory,
                                                                 fast_retries, settings) -> None:
    settings.TAILOR_WEBHOOKS = {**settings.TAILOR_WEBHOOKS, "max_attempts": 3}
    receiver = receiver_factory(fail_first=100)
    endpoint = endpoint_create(url=receiver.url, events=["profile.updated"])
    webhook_emit(event="profile.updated", data={"user_id": 1, "version": 2})
    assert wait_until(lambda: WebhookDelivery.objects.filter(endpoint=endpoint, status="failed").exists(), timeout=30)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.attempts == 3 and delivery.response_status == 500 and delivery.error == "HTTP 500"
    assert len(receiver.requests) == 3


@pytest.mark.django_db
def test_an_unreachable_receiver_counts_as_a_failed_attempt(settings) -> None:
    from webapp.webhooks.services import delivery_attempt

    settings.TAILOR_WEBHOOKS = {**settings.TAILOR_WEBHOOKS, "max_attempts": 2, "timeout_seconds": 2.0}
    endpoint = endpoint_create(url="http://127.0.0.1:9/closed", events=["vote.created"])  # port 9: refused
    (delivery_id,) = webhook_emit(event="vote.created", data={})
    first = delivery_attempt(delivery_id=delivery_id)
    assert not first.delivered and first.retry_in is not None
    second = delivery_attempt(delivery_id=delivery_id)
    assert not second.delivered and second.retry_in is None
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == "failed" and delivery.attempts == 2 and "Connect" in delivery.error
    assert delivery_attempt(delivery_id=delivery_id).retry_in is None  # given up: a late task sends nothing


@pytest.mark.django_db
def test_staff_read_the_delivery_log_in_the_admin(client) -> None:
    from tests.factories import UserFactory

    staff = UserFactory(is_staff=True, is_superuser=True)
    endpoint = endpoint_create(url="http://127.0.0.1:9/a", events=["vote.created"])
    webhook_emit(event="vote.created", data={"vote_id": 7})
    client.force_login(staff)
    page = client.get("/admin/webhooks/webhookdelivery/")
    assert page.status_code == 200 and "vote.created" in page.content.decode()
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert client.get(f"/admin/webhooks/webhookdelivery/{delivery.pk}/change/").status_code == 200
