from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create the demo login if it does not exist yet (the password is only set on creation)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", default="tailor-demo")

    def handle(self, *args: Any, **options: Any) -> None:
        username, password = options["username"].strip(), options["password"]
        if not username or len(password) < 8:
            raise CommandError("username must be non-empty and password at least 8 characters")
        user_model = get_user_model()
        if not user_model.objects.filter(username=username).exists():
            user_model.objects.create_user(username=username, password=password)
            self.stdout.write(f"created demo user {username!r}")
        self.stdout.write(self.style.SUCCESS(f"demo login: {username} / {password}"))
