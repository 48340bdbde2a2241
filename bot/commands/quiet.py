"""Mutes and snoozes: the commands write them, the sink asks `suppressed` before filing.

- `mute <group> <duration>`: no alert issue for the group on any branch of the repository
  until then. Store namespace `command_mute`, key `"owner/repo\\ngroup"`.
- `snooze <duration>` / `snooze until-green` on an alert issue: no new alert issue for that
  group on that branch until then, or until the snoozed alert recovers (every job in it
  passed again, or it was withdrawn as flaky); an until-green snooze lasts 30 days at most.
  Namespace `command_snooze`, key `"owner/repo\\nbranch\\ngroup"`.

Times are unix seconds. A value that has run out is treated as absent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from bot.store.base import Store
from bot.tracker.model import CloseReason

MUTES = "command_mute"
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


def _mute_key(repo: str, group: str) -> str:
    return f"{repo.lower()}\n{group}"


def _snooze_key(repo: str, branch: str, group: str) -> str:
    return f"{repo.lower()}\n{branch}\n{group}"


def _from(value: Any, kind: type[Mute] | type[Snooze]) -> Any:
    if not isinstance(value, dict):
        return None
    return kind(**{k: v for k, v in value.items() if k in kind.__dataclass_fields__})


async def mute(store: Store, repo: str, group: str, until: float, by: str) -> None:
    await store.put_state(MUTES, _mute_key(repo, group), asdict(Mute(until, by)))


async def unmute(store: Store, repo: str, group: str, now: float) -> bool:
    """End a mute; False when the group was not muted."""
    active = await muted(store, repo, group, now)
    await store.put_state(MUTES, _mute_key(repo, group), None)
    return active is not None


async def muted(store: Store, repo: str, group: str, now: float) -> Mute | None:
    found: Mute | None = _from(await store.get_state(MUTES, _mute_key(repo, group)), Mute)
    return found if found is not None and found.until > now else None


async def snooze(store: Store, repo: str, branch: str, group: str, value: Snooze) -> None:
    await store.put_state(SNOOZES, _snooze_key(repo, branch, group), asdict(value))


async def snoozed(store: Store, repo: str, branch: str, group: str, now: float) -> Snooze | None:
    key = _snooze_key(repo, branch, group)
    found: Snooze | None = _from(await store.get_state(SNOOZES, key), Snooze)
    if found is None or found.until <= now:
        return None
    if found.until_green and found.alert:
        for alert in await store.load_alerts(repo):
            if alert.alert == found.alert and not alert.open and alert.reason in ENDS_SNOOZE:
                return None
    return found


async def suppressed(store: Store, repo: str, branch: str, group: str, now: float) -> str | None:
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
