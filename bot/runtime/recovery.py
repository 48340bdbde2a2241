"""Missed deliveries, recovered through GitHub's own record of them.

GitHub does not send a failed delivery again by itself. On start and every few minutes, one
replica (under a lease in the store) lists the App's deliveries newer than the newest one
already looked at (`GET /app/hook/deliveries`, App JWT, newest first, cursor pagination),
and for each event (`guid`) whose every attempt failed in a way a retry can mend (no answer,
5xx, 408, 429) and that the inbox does not hold, asks GitHub to send it again
(`POST /app/hook/deliveries/{id}/attempts`). The redelivery comes to `/webhook` like any
delivery, with the same `X-GitHub-Delivery`, so the inbox takes it once whatever happens.

Bounded per pass (pages read, redeliveries asked for); an event is asked for again only once
the attempt asked for has itself failed, and at most `MAX_REQUESTS_PER_DELIVERY` times.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gidgethub.abc import GitHubAPI

from bot.store.base import Store

log = logging.getLogger(__name__)

LEASE = "hook-delivery-recovery"
RECOVERY_SECONDS = 120.0  # between passes
LEASE_SECONDS = 90.0  # longer than a pass takes, shorter than the time between passes
PER_PAGE = 100  # GitHub's maximum
MAX_PAGES = 30  # attempts looked at per pass: 3,000
MAX_REDELIVERIES = 100  # redeliveries asked for per pass
MAX_REQUESTS_PER_DELIVERY = 3


@dataclass(frozen=True, slots=True)
class HookAttempt:
    """One element of `GET /app/hook/deliveries`."""

    id: int
    guid: str
    event: str
    status_code: int

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def worth_retrying(self) -> bool:
        """No answer, or one that says "later"; a 4xx would be refused again."""
        return self.status_code == 0 or self.status_code >= 500 or self.status_code in (408, 429)

    @classmethod
    def from_item(cls, item: Any) -> HookAttempt | None:
        if not isinstance(item, dict):
            return None
        id_, guid = item.get("id"), item.get("guid")
        status = item.get("status_code")
        if type(id_) is not int or not isinstance(guid, str) or not guid:
            return None
        return cls(id_, guid, str(item.get("event") or ""), status if type(status) is int else 0)


@dataclass(slots=True)
class RecoveryCounts:
    """What recovery has done since the process started, for `/metrics`."""

    passes: int = 0
    skipped: int = 0  # passes left to the replica that held the lease
    requested: int = 0  # redeliveries GitHub accepted
    refused: int = 0  # redeliveries GitHub did not accept (tried again next pass)
    gaps: int = 0  # passes that could not read back to the previous pass's newest delivery


class DeliveryRecovery:
    def __init__(
        self,
        store: Store,
        app_client: Callable[[], GitHubAPI],
        holder: str,
        *,
        clock: Callable[[], float] = time.time,
        max_pages: int = MAX_PAGES,
        max_redeliveries: int = MAX_REDELIVERIES,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self._store = store
        self._app_client = app_client
        self._holder = holder
        self._clock = clock
        self._max_pages = max_pages
        self._max_redeliveries = max_redeliveries
        self._lease_seconds = lease_seconds
        self.counts = RecoveryCounts()

    async def run_once(self) -> int:
        """One pass; returns how many redeliveries GitHub accepted."""
        now = self._clock()
        if not await self._store.take_lease(LEASE, self._holder, now, self._lease_seconds):
            self.counts.skipped += 1
            return 0
        self.counts.passes += 1
        try:
            return await self._scan(now)
        finally:
            # Handed back at once: a replica that restarts (or another one) may scan next.
            await self._store.take_lease(LEASE, self._holder, self._clock(), 0)

    async def _scan(self, now: float) -> int:
        mark = await self._store.hook_cursor()
        gh = self._app_client()
        attempts, reached_mark = await self._attempts_since(gh, mark)
        if not attempts:
            return 0
        if not reached_mark:
            self.counts.gaps += 1
            log.warning(
                "more deliveries since the last recovery pass than one pass reads; "
                "the oldest of them are not looked at",
                extra={"read": len(attempts), "since_id": mark},
            )
        requested, handled_up_to = await self._redeliver(gh, attempts, now)
        if reached_mark or mark == 0:
            await self._store.save_hook_cursor(max(mark, handled_up_to), now)
        return requested

    async def _attempts_since(self, gh: GitHubAPI, mark: int) -> tuple[list[HookAttempt], bool]:
        """The attempts newer than `mark`, and whether the listing reached back to it."""
        found: list[HookAttempt] = []
        limit = self._max_pages * PER_PAGE
        async for item in gh.getiter(f"/app/hook/deliveries?per_page={PER_PAGE}"):
            attempt = HookAttempt.from_item(item)
            if attempt is None:
                continue
            if attempt.id <= mark:
                return found, True
            if len(found) >= limit:
                return found, False
            found.append(attempt)
        return found, True

    async def _redeliver(
        self, gh: GitHubAPI, attempts: list[HookAttempt], now: float
    ) -> tuple[int, int]:
        """Ask for the events that need it, oldest first. Returns (accepted, the id below
        which every attempt was dealt with)."""
        by_guid: dict[str, list[HookAttempt]] = {}
        for attempt in sorted(attempts, key=lambda a: a.id):
            by_guid.setdefault(attempt.guid, []).append(attempt)
        failed = {
            guid: tries
            for guid, tries in by_guid.items()
            if not any(t.ok for t in tries) and tries[-1].worth_retrying
        }
        known = await self._store.known_deliveries(list(failed))
        asked = await self._store.redeliveries_asked(list(failed))
        newest = max(a.id for a in attempts)
        requested = 0
        for guid, tries in failed.items():
            latest = tries[-1]
            asked_about, times = asked.get(guid, (0, 0))
            if guid in known or latest.id <= asked_about:
                continue  # stored after all, or the redelivery asked for is still on its way
            if times >= MAX_REQUESTS_PER_DELIVERY:
                continue
            if requested >= self._max_redeliveries:
                return requested, tries[0].id - 1  # the rest next pass
            if not await self._ask(gh, latest):
                return requested, tries[0].id - 1
            await self._store.record_redelivery(guid, latest.id, now)
            requested += 1
        return requested, newest

    async def _ask(self, gh: GitHubAPI, attempt: HookAttempt) -> bool:
        context = {"delivery_id": attempt.guid, "event": attempt.event, "hook_attempt": attempt.id}
        try:
            await gh.post(f"/app/hook/deliveries/{attempt.id}/attempts", data={})
        except Exception as exc:
            self.counts.refused += 1
            log.warning(
                "GitHub did not take a redelivery request; asking again next pass",
                extra=context | {"error": f"{type(exc).__name__}: {exc}"[:300]},
            )
            return False
        self.counts.requested += 1
        log.info("asked GitHub to send a missed delivery again", extra=context)
        return True
