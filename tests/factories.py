"""factory_boy factories for the web app's models."""

from __future__ import annotations

import random

import factory
from django.contrib.auth import get_user_model

from webapp.catalog.models import Prompt, Response
from webapp.votes.models import Pair

AXES = 8


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class PromptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prompt

    text = factory.Sequence(lambda n: f"Test prompt number {n}?")
    domain = "test"


class ResponseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Response

    prompt = factory.SubFactory(PromptFactory)
    text = factory.Sequence(lambda n: f"Answer {n}.")
    style = "test"
    axis_scores = factory.LazyFunction(lambda: [random.random() for _ in range(AXES)])


class PairFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Pair

    user = factory.SubFactory(UserFactory)
    prompt = factory.SubFactory(PromptFactory)
    left = factory.LazyAttribute(lambda o: ResponseFactory(prompt=o.prompt))
    right = factory.LazyAttribute(lambda o: ResponseFactory(prompt=o.prompt))
    source = "random"


def refit_and_follow(*, user_id: int) -> int | None:
    """What the realtime workers do after a vote, in this thread: the refit, then its follow-up task's work
    (suggestions, summary, a demo guest's panel, the staff map, webhooks)."""
    from workers.follow import profile_follow_run
    from workers.refit import profile_refit_run

    version = profile_refit_run(user_id=user_id)
    if version is not None:
        profile_follow_run(user_id=user_id)
    return version
