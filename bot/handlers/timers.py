"""`trunkwatch_timer`: a timer of the tracker fell due (not a GitHub event).

The tracker's timers are a pending result's timeout (`alerts.pending_timeout`) and the wait
of provisional suspects (`suspects.wait`). Both are derived from stored facts; when one falls
due, `bot.runtime.timers` puts a delivery of this event in the inbox, so it is processed like any
other: one repository at a time, in one transaction, once (its id names the deadline).
"""

from __future__ import annotations

from typing import Any

from gidgethub import routing, sansio
from gidgethub.abc import GitHubAPI

from bot.engine import Engine, Unit
from bot.events import PayloadError, repo_of

router = routing.Router()

TIMER_EVENT = "trunkwatch_timer"


@router.register(TIMER_EVENT)
async def on_timer(
    event: sansio.Event, gh: GitHubAPI | None, *, engine: Engine, unit: Unit, **_: Any
) -> None:
    repo = repo_of(event.data)
    now = event.data.get("now")
    if not isinstance(now, int | float) or isinstance(now, bool):
        raise PayloadError("timer delivery has no 'now'")
    await engine.tick(gh, repo.full_name, repo.default_branch, float(now), unit)
