"""`workflow_job`: one job's state, straight from the event (no API call needed).

`queued`, `waiting` and `in_progress` make the job pending on its commit (a result is
coming); `completed` gives its result.
"""

from __future__ import annotations

from typing import Any

from gidgethub import routing, sansio
from gidgethub.abc import GitHubAPI

from bot.engine import Engine, Unit
from bot.events import parse_workflow_job

router = routing.Router()


@router.register("workflow_job", action="queued")
@router.register("workflow_job", action="waiting")
@router.register("workflow_job", action="in_progress")
@router.register("workflow_job", action="completed")
async def on_job(
    event: sansio.Event, gh: GitHubAPI | None, *, engine: Engine, unit: Unit, **_: Any
) -> None:
    job = parse_workflow_job(event.data, event.delivery_id or "")
    await engine.note_job_events(job.repo.full_name)
    await engine.results(gh, job.repo.full_name, job.repo.default_branch, [job.result], unit)
