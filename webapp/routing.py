from __future__ import annotations

from django.urls import path

from webapp.demos.consumers import ParticipantConsumer, PresenterConsumer
from webapp.generation.consumers import JobConsumer, PromptPoolConsumer
from webapp.profiles.consumers import ProfileConsumer
from webapp.prototypes.consumers import StaffPrototypesConsumer

websocket_urlpatterns = [
    path("ws/profile/", ProfileConsumer.as_asgi()),
    path("ws/staff/prototypes/", StaffPrototypesConsumer.as_asgi()),
    path("ws/jobs/<uuid:job_id>/", JobConsumer.as_asgi()),
    path("ws/prompts/<int:prompt_id>/", PromptPoolConsumer.as_asgi()),
    path("ws/demo/<str:code>/present/", PresenterConsumer.as_asgi()),
    path("ws/demo/<str:code>/", ParticipantConsumer.as_asgi()),
]
