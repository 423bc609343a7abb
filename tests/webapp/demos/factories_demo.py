"""Shared set-up for the demo tests: a scored pool, a staff presenter, a session, participants."""

from __future__ import annotations

from tests.factories import PromptFactory, ResponseFactory, UserFactory
from webapp.demos import services
from webapp.demos.models import DemoSession, Participant

SCORES = [
    ("Rarely. Once a month is plenty.", [0.9, 0, .5, .1, 0, .1, 0, .6]),
    ("1. Check the soil.\n2. Water deeply.\n3. Let it dry out completely.", [0.4, 1, .5, .1, 0, .2, .1, .5]),
    ("Hey! Cacti are super chill, just give 'em a splash now and then :)", [0.6, 0, .1, .6, .4, 0, 0, .5]),
]


def scored_pool(prompts: int = 4, per_prompt: int = 3, domains: tuple[str, ...] = ("garden", "code")) -> list[int]:
    ids = []
    for i in range(prompts):
        prompt = PromptFactory(text=f"How do I water a cactus, take {i}?", domain=domains[i % len(domains)])
        for text, scores in SCORES[:per_prompt]:
            ResponseFactory(prompt=prompt, text=text, axis_scores=scores)
        ids.append(prompt.pk)
    return ids


def presenter(username: str | None = None) -> object:
    return UserFactory(is_staff=True, **({"username": username} if username else {}))


def session(**kwargs: object) -> DemoSession:
    staff = kwargs.pop("presenter", None) or presenter()
    return services.session_create(presenter=staff, name=kwargs.pop("name", "Meetup"), **kwargs)  # type: ignore[arg-type]


def join(demo: DemoSession, name: str, ip: str = "10.0.0.1") -> Participant:
    return services.participant_join(code=demo.code, display_name=name, ip=ip).participant
