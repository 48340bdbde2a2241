"""Carry the actions' old key/value state over to the typed records (schema version 6).

Before version 6 the actions kept their bookkeeping as JSON under string keys in the
`state` table. At start, whatever is still there is converted to records in one
transaction and then removed; running it again converts nothing twice (records are written
by key, and what was converted is gone). A value that cannot be read is logged and left.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bot.records import (
    Ack,
    AlertIssue,
    ConfigReport,
    Escalation,
    Mute,
    Snooze,
    SuspectHold,
    SuspectPRs,
)
from bot.store.base import Changes, Store

log = logging.getLogger(__name__)

Convert = Callable[[str, Any], list[Any]]


def _fields(kind: type[Any], value: dict[str, Any], **extra: Any) -> Any:
    known = {k: v for k, v in value.items() if k in kind.__dataclass_fields__}
    return kind(**(known | extra))


def _issue(key: str, value: Any) -> list[Any]:
    return [_fields(AlertIssue, value)]


def _escalation(key: str, value: Any) -> list[Any]:
    if key == "pending":  # the old index of pending escalations: a column now
        return []
    return [_fields(Escalation, value, installation=value.get("installation"))]


def _suspects(key: str, value: Any) -> list[Any]:
    return [SuspectPRs(key, dict(value.get("prs") or {}), list(value.get("cleared") or []))]


def _holds(key: str, value: Any) -> list[Any]:
    repo, _, number = key.rpartition("#")
    return [SuspectHold(repo, int(number), str(alert)) for alert in value]


def _mute(key: str, value: Any) -> list[Any]:
    repo, group = key.split("\n", 1)
    return [Mute(repo, group, float(value["until"]), str(value["by"]))]


def _snooze(key: str, value: Any) -> list[Any]:
    repo, branch, group = key.split("\n", 2)
    return [_fields(Snooze, value, repo=repo, branch=branch, group=group)]


def _ack(key: str, value: Any) -> list[Any]:
    return [Ack(key, str(value["by"]), float(value["at"]))]


def _report(key: str, value: Any) -> list[Any]:
    state = str(value.get("state") or "closed")
    return [ConfigReport(key, state, str(value.get("digest") or ""), int(value.get("number") or 0))]


def _dropped(key: str, value: Any) -> list[Any]:
    return []  # an index the typed tables answer by a query now


# The namespaces as the actions named them, and what each becomes.
CONVERSIONS: dict[str, Convert] = {
    "alert_issue": _issue,
    "alert_latest": _dropped,
    "alert_by_issue": _dropped,
    "alert_escalation": _escalation,
    "alert_suspects": _suspects,
    "suspect_pr_alerts": _holds,
    "command_mute": _mute,
    "command_snooze": _snooze,
    "command_ack": _ack,
    "config_report": _report,
}


async def carry_state_over(store: Store) -> int:
    """Convert the old state to typed records; returns how many records were written."""
    changes = Changes()
    converted: list[tuple[str, str]] = []
    for namespace, convert in CONVERSIONS.items():
        for key, value in await store.state_items(namespace):
            try:
                changes.records.extend(convert(key, value))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                log.warning(
                    "old state left as it was: it could not be read",
                    extra={"namespace": namespace, "key": key, "error": type(exc).__name__},
                )
                continue
            converted.append((namespace, key))
    if not converted:
        return 0
    await store.save_changes(changes)
    for namespace, key in converted:
        await store.put_state(namespace, key, None)
    log.info("old state carried over to typed records", extra={"records": len(changes.records)})
    return len(changes.records)
