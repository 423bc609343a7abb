from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = ("Create the demo login if it does not exist yet (the password is only set on creation); with --staff "
            "it may also present live demos and review prototypes (not the Django admin).")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", default="tailor-demo")
        parser.add_argument("--staff", action="store_true", help="a staff login (presenter, prototype reviewer)")

    def handle(self, *args: Any, **options: Any) -> None:
        username, password = options["username"].strip(), options["password"]
        if not username or len(password) < 8:
            raise CommandError("username must be non-empty and password at least 8 characters")
        user_model = get_user_model()
        if not user_model.objects.filter(username=username).exists():
            user_model.objects.create_user(username=username, password=password, is_staff=options["staff"])
            self.stdout.write(f"created demo user {username!r}")
        role = "staff login (live demos, prototype review)" if options["staff"] else "demo login"
        self.stdout.write(self.style.SUCCESS(f"{role}: {username} / {password}"))
