from __future__ import annotations

import pytest
from django.core import mail

from tests.factories import UserFactory


@pytest.mark.django_db
def test_signup_logs_in_and_bad_signup_explains_why(client) -> None:
    bad = client.post("/accounts/signup/", {"username": "dora", "password1": "short", "password2": "short"})
    assert bad.status_code == 400 and "too short" in bad.content.decode()
    good = client.post("/accounts/signup/", {"username": "dora", "password1": "a-long-pass-phrase-42",
                                             "password2": "a-long-pass-phrase-42"})
    assert good.status_code == 302 and good["Location"] == "/vote/"
    assert client.get("/vote/").status_code == 200


@pytest.mark.django_db
def test_password_reset_sends_a_mail_with_a_working_link(client) -> None:
    UserFactory(username="erin", email="erin@example.org")
    response = client.post("/accounts/password_reset/", {"email": "erin@example.org"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = next(line for line in mail.outbox[0].body.splitlines() if "/accounts/reset/" in line).strip()
    path = link[link.index("/accounts/reset/"):]
    assert client.get(path, follow=True).status_code == 200


@pytest.mark.django_db
def test_logout_is_a_post(client) -> None:
    client.force_login(UserFactory())
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/vote/").status_code == 302


@pytest.mark.django_db
def test_demo_user_command_makes_a_staff_presenter_once_and_refuses_short_passwords(client) -> None:
    from django.contrib.auth import get_user_model
    from django.core.management import CommandError, call_command

    call_command("demo_user", "--staff", "--username", "presenter", "--password", "tailor-presenter")
    call_command("demo_user", "--staff", "--username", "presenter", "--password", "another-password")
    presenter = get_user_model().objects.get(username="presenter")
    assert presenter.is_staff and not presenter.is_superuser and presenter.check_password("tailor-presenter")
    client.force_login(presenter)
    assert client.get("/demo/new/").status_code == 200
    assert client.get("/staff/prototypes/").status_code == 200
    with pytest.raises(CommandError, match="at least 8"):
        call_command("demo_user", "--username", "x", "--password", "short")
