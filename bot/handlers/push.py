"""`push`: learn the trunk's commit order; drop the cached configuration when it changed."""

from __future__ import annotations

from typing import Any

from gidgethub import routing, sansio
from gidgethub.abc import GitHubAPI

from bot.engine import Engine, Unit
from bot.events import parse_push

CONFIG_PATH = ".github/trunkwatch.yml"

router = routing.Router()


@router.register("push")
async def on_push(
    event: sansio.Event, gh: GitHubAPI | None, *, engine: Engine, unit: Unit, **_: Any
) -> None:
    parsed = parse_push(event.data, event.delivery_id or "")
    if parsed is None or parsed.deleted:
        return
    default_branch = str(event.data["repository"].get("default_branch") or "main")
    if parsed.push.branch == default_branch and CONFIG_PATH in parsed.touched_paths:
        engine.config_changed(parsed.push.repo)
    await engine.push(gh, parsed.push, default_branch, unit)
