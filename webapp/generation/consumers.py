"""Streams a generation job to its owner's page: deltas as out-of-band appends, the result as a swap."""

from __future__ import annotations

from typing import Any, TypedDict

from channels.db import database_sync_to_async
from django.template.loader import render_to_string
from django.utils.html import escape

from webapp.generation.models import GenerationJob
from webapp.generation.services import compare_cancel, compare_dispatch
from webapp.group_consumer import GroupConsumer
from workers.contracts import JobQueued


class JobDelta(TypedDict):
    type: str  # "job.delta"
    job_id: str
    side: str  # "default" | "personal"
    text: str


class JobDone(TypedDict):
    type: str  # "job.done"
    job_id: str


class JobConsumer(GroupConsumer):
    unsupported_message = "this socket only streams; send nothing"

    async def connect(self) -> None:
        user = self.scope.get("user")
        self.job_id = str(self.scope["url_route"]["kwargs"]["job_id"])
        if user is None or not user.is_authenticated or not await self._owns(user.pk):
            await self.close(code=4403)
            return
        self.user_id: int = user.pk
        await self.join(f"job.{self.job_id}")
        if await self._status() in (
            GenerationJob.Status.DONE,
            GenerationJob.Status.FAILED,
            GenerationJob.Status.CANCELLED,
        ):
            await self.send(text_data=await self._result())  # a reload of a finished job
        else:
            await database_sync_to_async(compare_dispatch)(job_id=self.job_id, user_id=self.user_id)

    async def disconnect(self, code: int) -> None:
        await super().disconnect(code)
        if hasattr(self, "user_id"):  # the page is gone: nobody reads this job any more
            await database_sync_to_async(compare_cancel)(job_id=self.job_id, user_id=self.user_id)

    async def job_delta(self, event: JobDelta) -> None:
        if event.get("job_id") != self.job_id or event.get("side") not in ("default", "personal"):
            return
        side = event["side"]
        await self.send(
            text_data=f'<span hx-swap-oob="beforeend:#compare-{side}-text">{escape(event["text"])}</span>'
        )

    async def job_queued(self, event: JobQueued) -> None:
        if event.get("job_id") != self.job_id:
            return
        ahead = int(event["ahead"])
        text = "yours is next" if ahead == 0 else f"{ahead} job{'s' if ahead != 1 else ''} ahead of yours"
        await self.send(
            text_data=f'<p id="compare-queue" class="muted" hx-swap-oob="true" '
            f'data-testid="compare-queue">Waiting for a worker: {text}</p>'
        )

    async def job_done(self, event: JobDone) -> None:
        if event.get("job_id") == self.job_id:
            await self.send(text_data=await self._result())

    @database_sync_to_async
    def _owns(self, user_id: int) -> bool:
        return GenerationJob.objects.filter(pk=self.job_id, user_id=user_id).exists()

    @database_sync_to_async
    def _status(self) -> str:
        return str(GenerationJob.objects.values_list("status", flat=True).get(pk=self.job_id))

    @database_sync_to_async
    def _result(self) -> str:
        job = GenerationJob.objects.select_related("prompt", "pair").get(pk=self.job_id, user_id=self.user_id)
        context: dict[str, Any] = {"job": job, "oob": True}
        return render_to_string("generation/_result.html", context)


class PoolProgress(TypedDict):
    type: str  # "pool.progress"
    prompt_id: int
    done: int
    total: int


class PromptPoolConsumer(GroupConsumer):
    """Progress of a prompt's candidate pool (prompts are shared, so any signed-in user may watch)."""

    unsupported_message = "this socket only reports progress"

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.prompt_id = int(self.scope["url_route"]["kwargs"]["prompt_id"])
        await self.join(f"prompt.{self.prompt_id}")

    async def pool_progress(self, event: PoolProgress) -> None:
        if event.get("prompt_id") != self.prompt_id:
            return
        done, total = int(event["done"]), int(event["total"])
        await self.send(
            text_data=render_to_string(
                "generation/_pool_progress.html", {"done": done, "total": total, "oob": True}
            )
        )
