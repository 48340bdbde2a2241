"""`installation` and `installation_repositories`: which repositories the App may watch."""

from __future__ import annotations

from typing import Any

from gidgethub import routing, sansio
from gidgethub.abc import GitHubAPI

from bot.events import parse_installation
from bot.store.base import Installation, Store

router = routing.Router()


@router.register("installation")
async def on_installation(
    event: sansio.Event, gh: GitHubAPI | None, *, store: Store, **_: Any
) -> None:
    change = parse_installation(event.data)
    if change.action == "deleted":
        await store.delete_installation(change.installation_id)
        return
    known = {i.installation_id: i for i in await store.installations()}
    previous = known.get(change.installation_id)
    repos = (
        change.repositories
        if change.repositories is not None
        else (previous.repos if previous else ())
    )
    await store.save_installation(
        Installation(
            installation_id=change.installation_id,
            account=change.account,
            repos=tuple(sorted(repos)),
            suspended=change.action == "suspend",
        )
    )


@router.register("installation_repositories")
async def on_repositories(
    event: sansio.Event, gh: GitHubAPI | None, *, store: Store, **_: Any
) -> None:
    change = parse_installation(event.data)
    known = {i.installation_id: i for i in await store.installations()}
    previous = known.get(change.installation_id)
    repos = set(previous.repos if previous else ()) | set(change.added)
    repos -= set(change.removed)
    await store.save_installation(
        Installation(
            installation_id=change.installation_id,
            account=change.account or (previous.account if previous else ""),
            repos=tuple(sorted(repos)),
            suspended=previous.suspended if previous else False,
        )
    )
