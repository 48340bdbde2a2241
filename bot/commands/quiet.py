"""Mutes and snoozes: the commands write them, the sink asks `suppressed` before filing.

- `mute <group> <duration>`: no alert issue for the group on any branch of the repository
  until then. A `records.Mute` (repository lower-cased, group).
- `snooze <duration>` / `snooze until-green` on an alert issue: no new alert issue for that
  group on that branch until then, or until the snoozed alert recovers (every job in it
  passed again, or it was withdrawn as flaky); an until-green snooze lasts 30 days at most.
  A `records.Snooze` (repository lower-cased, branch, group).

Times are unix seconds. A value that has run out is treated as absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bot import records
from bot.store.base import Store
from bot.store.record_view import Records, records_of
from bot.tracker.model import CloseReason

MUTES = "command_mute"  # before typed records (carried over at start)
SNOOZES = "command_snooze"
ENDS_SNOOZE = frozenset({CloseReason.RECOVERED, CloseReason.FLAKY})


def when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True, slots=True)
class Mute:
    until: float
    by: str


@dataclass(frozen=True, slots=True)
class Snooze:
    until: float  # the latest end, also for until-green
    by: str
    until_green: bool = False
    alert: str = ""  # the alert the snooze was typed on (until-green ends with it)


async def mute(store: Store | Records, repo: str, group: str, until: float, by: str) -> None:
    await records_of(store).put(records.Mute(repo.lower(), group, until, by))


async def unmute(store: Store | Records, repo: str, group: str, now: float) -> bool:
    """End a mute; False when the group was not muted."""
    active = await muted(store, repo, group, now)
    await records_of(store).remove(records.Mute, repo.lower(), group)
    return active is not None


async def muted(store: Store | Records, repo: str, group: str, now: float) -> Mute | None:
    found = await records_of(store).get(records.Mute, repo.lower(), group)
    return Mute(found.until, found.by) if found is not None and found.until > now else None


async def snooze(store: Store | Records, repo: str, branch: str, group: str, value: Snooze) -> None:
    record = records.Snooze(
        repo.lower(), branch, group, value.until, value.by, value.until_green, value.alert
    )
    await records_of(store).put(record)


async def snoozed(
    store: Store | Records, repo: str, branch: str, group: str, now: float
) -> Snooze | None:
    found = await records_of(store).get(records.Snooze, repo.lower(), branch, group)
    if found is None or found.until <= now:
        return None
    if found.until_green and found.alert:
        for alert in await records_of(store).store.load_alerts(repo):
            if alert.alert == found.alert and not alert.open and alert.reason in ENDS_SNOOZE:
                return None
    return Snooze(found.until, found.by, found.until_green, found.alert)


async def suppressed(
    store: Store | Records, repo: str, branch: str, group: str, now: float
) -> str | None:
    """Why no new alert issue may be filed for (repo, branch, group) now, or None.

    For the sink: an OPEN decision for a muted or snoozed group is not filed."""
    mute_found = await muted(store, repo, group, now)
    if mute_found is not None:
        return f"muted until {when(mute_found.until)} by {mute_found.by}"
    snooze_found = await snoozed(store, repo, branch, group, now)
    if snooze_found is not None:
        if snooze_found.until_green:
            return f"snoozed until the group is green again, by {snooze_found.by}"
        return f"snoozed until {when(snooze_found.until)} by {snooze_found.by}"
    return None
