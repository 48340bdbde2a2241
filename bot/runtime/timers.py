"""The tracker's timers, due ones turned into inbox deliveries (see `bot.handlers.timers`).

Every replica may enqueue the same timer: its delivery id names the repository and the
deadline, so the inbox keeps one.
"""

from __future__ import annotations

import json
import time

from bot.engine import Engine
from bot.handlers.timers import TIMER_EVENT
from bot.store.base import Delivery, Store

TIMER_CHECK_SECONDS = 60.0


async def enqueue_due(engine: Engine, store: Store, now: float | None = None) -> int:
    """Put a timer delivery in the inbox for each loaded repository whose next timer is due;
    how many were new."""
    now = time.time() if now is None else now
    added = 0
    for repo, default_branch, deadline in engine.deadlines():
        if deadline > now:
            continue
        installation = await store.installation_for_repo(repo)
        body = {
            "repository": {"full_name": repo, "default_branch": default_branch},
            "installation": {"id": installation} if installation is not None else None,
            "now": now,
        }
        added += await store.add_delivery(
            Delivery(
                delivery_id=f"timer-{repo}-{deadline:.0f}",
                event=TIMER_EVENT,
                repo=repo,
                installation_id=installation,
                body=json.dumps(body).encode(),
                received_at=now,
            )
        )
    return added
