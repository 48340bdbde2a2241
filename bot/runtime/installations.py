"""The App's installations and their repositories, synced from GitHub.

Installation events keep the store current as installations change, but an App installed
before its database existed (or while it was down) never sees those events. So at start, and
every hour, the App lists its installations (`GET /app/installations`, as the App) and each
one's repositories (`GET /installation/repositories`, as the installation), and writes what
GitHub says: the status page then lists every repository the App can see, on every replica.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from bot.store.base import Installation, Store

log = logging.getLogger(__name__)

SYNC_SECONDS = 3600.0
RETRY_SECONDS = (2.0, 5.0, 15.0, 60.0, 300.0)  # after a failed sync, then every 5 minutes


class InstallationClients(Protocol):
    def app_client(self) -> Any: ...

    async def installation_client(self, installation_id: int) -> Any: ...


async def fetch_installations(github: InstallationClients) -> list[Installation]:
    """Every installation of the App with its repositories, as GitHub lists them now."""
    found = []
    async for item in github.app_client().getiter(
        "/app/installations{?per_page}", {"per_page": 100}
    ):
        installation_id = int(item["id"])
        account = str((item.get("account") or {}).get("login") or "")
        suspended = item.get("suspended_at") is not None
        repos: list[str] = []
        if not suspended:  # a suspended installation gets no token
            gh = await github.installation_client(installation_id)
            listing = gh.getiter(
                "/installation/repositories{?per_page}",
                {"per_page": 100},
                iterable_key="repositories",
            )
            repos = [str(repo["full_name"]) async for repo in listing]
        found.append(Installation(installation_id, account, tuple(sorted(repos)), suspended))
    return found


async def sync_installations(github: InstallationClients, store: Store) -> int:
    """Make the store's installations what GitHub lists; returns how many there are. A
    suspended installation keeps the repositories the store knew for it."""
    current = await fetch_installations(github)
    known = {i.installation_id: i for i in await store.installations()}
    for installation in current:
        previous = known.pop(installation.installation_id, None)
        if installation.suspended and previous is not None:
            installation = Installation(
                installation.installation_id, installation.account, previous.repos, True
            )
        if installation != previous:
            await store.save_installation(installation)
    for gone in known:
        await store.delete_installation(gone)
    log.info(
        "installations synced",
        extra={"installations": len(current), "removed": len(known)},
    )
    return len(current)


async def keep_synced(github: InstallationClients, store: Store) -> None:
    """Sync now, then every SYNC_SECONDS; after a failure, sooner (GitHub may be down)."""
    failures = 0
    while True:
        try:
            await sync_installations(github, store)
        except Exception as exc:
            delay = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
            failures += 1
            log.warning(
                "could not sync installations; will retry",
                extra={"error": type(exc).__name__, "retry_in_seconds": delay},
            )
        else:
            failures, delay = 0, SYNC_SECONDS
        await asyncio.sleep(delay)
