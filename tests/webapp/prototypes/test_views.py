from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory
from webapp.profiles.models import BaseRewardBank, RewardProfile
from webapp.prototypes.models import Prototype, PrototypeAudit

NAMES = ["brevity", "structure", "formality"]
EYE = [[0.1 if a == b else 0.0 for b in range(3)] for a in range(3)]


@pytest.fixture
def prototypes() -> tuple[Prototype, Prototype]:
    bank = BaseRewardBank.objects.create(version=1, encoder="test", names=NAMES, state={}, is_active=True)
    a = Prototype.objects.create(key=0, name="Brief", bank=bank, mean=[2.0, 0.0, 0.0], covariance=EYE, size=1,
                                 summary="Prefers short answers.")
    b = Prototype.objects.create(key=1, bank=bank, mean=[-2.0, 0.0, 0.0], covariance=EYE, size=1)
    for key, weights in ((0, [2.0, 0.1, 0.0]), (1, [-2.0, 0.0, 0.1])):
        RewardProfile.objects.create(user=UserFactory(), bank=bank, weights=weights, covariance=EYE, vote_count=4,
                                     version=1, prototype_id=key, summary="likes it short")
    return a, b


def _client(*, staff: bool) -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=staff))
    return client


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_log_in_and_users_are_refused(prototypes) -> None:
    url = reverse("prototype-review")
    response = Client().get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert _client(staff=False).get(url).status_code == 403
    assert _client(staff=False).get(reverse("prototype-detail", args=[0])).status_code == 403
    assert _client(staff=False).post(reverse("prototype-rename", args=[0]), {"name": "Hijacked"}).status_code == 403
    assert Client().post(reverse("prototypes-refit")).status_code == 302
    assert Prototype.objects.get(key=0).name == "Brief" and not PrototypeAudit.objects.exists()


@pytest.mark.django_db
def test_staff_see_the_map_the_list_and_each_prototype(prototypes) -> None:
    client = _client(staff=True)
    html = client.get(reverse("prototype-review")).content.decode()
    assert 'data-testid="prototype-map"' in html and html.count('data-testid="map-point"') == 2
    assert html.count('data-testid="prototype-row"') == 2 and "likes it short" in html  # hover summary
    assert 'ws-connect="/ws/staff/prototypes/"' in html and 'data-testid="nav-prototypes"' in html
    assert 'data-testid="nav-prototypes"' not in _client(staff=False).get(reverse("me")).content.decode()
    detail = client.get(reverse("prototype-detail", args=[0])).content.decode()
    assert "Prefers short answers." in detail and "brevity" in detail and "2.00 ± 0.32" in detail
    assert client.get(reverse("prototype-detail", args=[99])).status_code == 404


@pytest.mark.django_db
def test_staff_rename_and_merge_are_applied_and_audited(prototypes) -> None:
    client = _client(staff=True)
    response = client.post(reverse("prototype-rename", args=[1]), {"name": "  Thorough  "})
    assert response.status_code == 302 and Prototype.objects.get(key=1).name == "Thorough"
    response = client.post(reverse("prototypes-merge"), {"source": "0", "target": "1"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 204 and response["HX-Redirect"] == reverse("prototype-review")
    assert Prototype.objects.get(key=0).status == Prototype.Status.RETIRED
    assert [a.action for a in PrototypeAudit.objects.order_by("id")] == ["rename", "merge"]
    response = client.post(reverse("prototype-approve", args=[1]), {"back": "detail"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("prototype-detail", args=[1])
    assert "Approved prototype #1." in response.content.decode()


@pytest.mark.django_db
def test_bad_input_is_refused_with_a_message_and_changes_nothing(prototypes) -> None:
    client = _client(staff=True)
    for url, data in ((reverse("prototype-rename", args=[0]), {"name": "   "}),
                      (reverse("prototype-rename", args=[0]), {"name": "x" * 81}),
                      (reverse("prototypes-merge"), {"source": "0", "target": "0"}),
                      (reverse("prototypes-merge"), {"source": "zero", "target": "1"}),
                      (reverse("prototype-approve", args=[42]), {})):
        response = client.post(url, data, follow=True)
        assert "Nothing changed" in response.content.decode()
    assert Prototype.objects.get(key=0).name == "Brief" and not PrototypeAudit.objects.exists()
    assert client.get(reverse("prototype-rename", args=[0])).status_code == 405


@pytest.mark.django_db
def test_the_page_shows_the_state_of_the_last_requested_job(prototypes, django_capture_on_commit_callbacks) -> None:
    client = _client(staff=True)
    with django_capture_on_commit_callbacks(execute=False):
        client.post(reverse("prototypes-refit"))
    assert 'data-stage="queued"' in client.get(reverse("prototype-review")).content.decode()
    from webapp.prototypes.services import prototype_action_failed

    prototype_action_failed(audit_id=PrototypeAudit.objects.get().pk, error="3 users; clustering needs 4")
    assert 'data-stage="failed: 3 users; clustering needs 4"' in client.get(reverse("prototype-review")).content.decode()


@pytest.mark.django_db
def test_actions_need_the_csrf_token(prototypes) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(is_staff=True))
    assert client.post(reverse("prototype-approve", args=[0])).status_code == 403
    assert Prototype.objects.get(key=0).status == Prototype.Status.ACTIVE


@pytest.mark.django_db
def test_admin_lists_and_searches_prototypes_and_the_audit_is_read_only(prototypes) -> None:
    from webapp.prototypes.services import prototype_rename

    admin_user = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin_user)
    prototype_rename(actor_id=admin_user.pk, key=0, name="Short")
    assert "Short" in client.get("/admin/prototypes/prototype/?q=Short").content.decode()
    assert client.get("/admin/prototypes/prototype/?status__exact=active").status_code == 200
    audit = PrototypeAudit.objects.get()
    assert client.get("/admin/prototypes/prototypeaudit/?action__exact=rename").status_code == 200
    assert client.get(f"/admin/prototypes/prototypeaudit/{audit.pk}/change/").status_code == 200  # view only
    assert client.post(f"/admin/prototypes/prototypeaudit/{audit.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/admin/prototypes/prototypeaudit/add/").status_code == 403
    assert PrototypeAudit.objects.count() == 1


@pytest.mark.django_db
def test_an_edit_in_the_admin_is_audited(prototypes) -> None:
    admin_user = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin_user)
    a = prototypes[0]
    response = client.post(f"/admin/prototypes/prototype/{a.pk}/change/",
                           {"name": "Brief and blunt", "status": "retired", "summary": "Staff words."})
    assert response.status_code == 302
    audit = PrototypeAudit.objects.get()
    assert (audit.action, audit.actor_id, audit.keys) == ("admin_edit", admin_user.pk, [0])
    # status is read-only here (retiring must move members); the summary is now staff's, kept by workers
    assert audit.before["name"] == "Brief" and audit.after == {**audit.before, "name": "Brief and blunt",
                                                               "summary": "Staff words.", "summary_edited": True}
    assert client.get("/admin/prototypes/prototype/add/").status_code == 403  # prototypes come from clustering
