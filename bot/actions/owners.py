"""The owners of an alert: assigned when it is filed, escalated to when nobody acknowledges.

Owners are mentioned once, in the body the issue is created with (so a retried delivery
that finds the issue again pings nobody twice); the users among them are assigned, teams
cannot be. When the group has `escalate_after`, a timer is written to the store; the worker
calls `check_escalations` periodically, and an alert nobody has acknowledged by then gets
one comment pinging the `escalation_owners`. The timer survives restarts because it is
data, not a sleeping task.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import gidgethub

from bot.actions import alert_issue as issues
from bot.actions import markdown as md
from bot.actions.alert_issue import AlertIssue, repo_vars
from bot.actions.policy import DEFAULT_APP_SLUG, AlertPolicy
from bot.config.model import is_team
from bot.store.base import Store

log = logging.getLogger(__name__)

ESCALATIONS = "alert_escalation"  # alert id → escalation record; PENDING_KEY → alert ids
PENDING_KEY = "pending"
PENDING, ACKED, DONE, CANCELLED = "pending", "acked", "done", "cancelled"
ASSIGNEES_PATH = "/repos/{owner}/{repo}/issues/{number}/assignees"
MAX_ASSIGNEES = 10  # GitHub keeps at most ten

ClientFor = Callable[[int], Awaitable[Any]]

# The pending index is read-modified-written by the worker's tasks and the periodic check;
# within one process this lock keeps their updates from overwriting each other.
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _index_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _locks.get(loop)
    if lock is None:
        lock = _locks[loop] = asyncio.Lock()
    return lock


def owner_line(owners: Sequence[str]) -> str:
    return ", ".join(md.mention(owner) for owner in owners)


async def assign(gh: Any, repo: str, number: int, owners: Sequence[str]) -> None:
    """Assign the users among `owners` (adding assignees is idempotent on GitHub)."""
    users = [owner.removeprefix("@") for owner in owners if not is_team(owner)]
    if users:
        await gh.post(
            ASSIGNEES_PATH,
            repo_vars(repo, number=number),
            data={"assignees": users[:MAX_ASSIGNEES]},
        )


async def _pending(store: Store) -> list[str]:
    value = await store.get_state(ESCALATIONS, PENDING_KEY)
    return [str(alert) for alert in value] if isinstance(value, list) else []


async def schedule(
    store: Store,
    issue: AlertIssue,
    policy: AlertPolicy,
    now: float,
    installation_id: int | None,
) -> None:
    """Start the escalation timer of a newly filed alert (once: a retry keeps the first)."""
    if policy.escalate_after is None or not policy.escalation_owners:
        return
    if await store.get_state(ESCALATIONS, issue.alert) is not None:
        return
    record = {
        "alert": issue.alert,
        "repo": issue.repo,
        "number": issue.number,
        "due": now + policy.escalate_after,
        "after": policy.escalate_after,
        "owners": list(policy.escalation_owners),
        "installation": installation_id,
        "state": PENDING,
        "acked_by": None,
        "app_slug": policy.app_slug,
        "prefix": policy.commands_prefix,
    }
    await store.put_state(ESCALATIONS, issue.alert, record)
    async with _index_lock():
        pending = await _pending(store)
        if issue.alert not in pending:
            await store.put_state(ESCALATIONS, PENDING_KEY, [*pending, issue.alert])


async def cancel(store: Store, alert: str) -> None:
    """The alert is over: its escalation will never fire."""
    record = await store.get_state(ESCALATIONS, alert)
    if isinstance(record, dict) and record.get("state") in (PENDING, ACKED):
        await store.put_state(ESCALATIONS, alert, record | {"state": CANCELLED})


async def _record_for_issue(store: Store, repo: str, number: int) -> dict[str, Any] | None:
    alert = await issues.alert_for_issue(store, repo, number)
    record = await store.get_state(ESCALATIONS, alert) if alert else None
    return record if isinstance(record, dict) else None


async def ack(store: Store, repo: str, number: int, by: str) -> bool:
    """`/trunkwatch ack` on the alert issue: someone is on it, so no escalation.
    Returns False when the issue has no escalation that could still fire."""
    record = await _record_for_issue(store, repo, number)
    if record is None or record.get("state") not in (PENDING, ACKED):
        return False
    await store.put_state(ESCALATIONS, record["alert"], record | {"state": ACKED, "acked_by": by})
    return True


async def unack(store: Store, repo: str, number: int, now: float) -> bool:
    """`/trunkwatch unack`: nobody is on it after all; the escalation fires `escalate_after`
    from now unless acknowledged again. False when there is no acknowledgement to withdraw."""
    record = await _record_for_issue(store, repo, number)
    if record is None or record.get("state") != ACKED:
        return False
    due = now + float(record.get("after") or 0.0)
    await store.put_state(
        ESCALATIONS, record["alert"], record | {"state": PENDING, "acked_by": None, "due": due}
    )
    return True


def escalation_comment(owners: Sequence[str], after: float, prefix: str) -> str:
    hours, minutes = divmod(round(after / 60), 60)
    waited = f"{hours} h {minutes} min" if hours else f"{max(minutes, 1)} min"
    return (
        f"⏫ Nobody has acknowledged this alert within {waited}. {owner_line(owners)}, please"
        f" take a look. Comment `{md.one_line(prefix, 40)} ack` when someone is on it."
    )


async def _escalate(record: dict[str, Any], gh: Any) -> bool:
    """Post the escalation; False when the issue is already closed (nothing to escalate)."""
    repo, number = str(record["repo"]), int(record["number"])
    found = await issues.get(gh, repo, number)
    if found is None or found.get("state") != issues.OPEN:
        return False
    policy = AlertPolicy(
        group="",
        app_slug=str(record.get("app_slug") or DEFAULT_APP_SLUG),
        commands_prefix=str(record.get("prefix") or "/trunkwatch"),
    )
    text = escalation_comment(record["owners"], float(record["after"]), policy.commands_prefix)
    await issues.comment_once(gh, repo, number, text, "escalation", policy, alert=record["alert"])
    return True


async def check_escalations(store: Store, client_for: ClientFor, now: float) -> int:
    """Fire the escalations that are due and not acknowledged. Returns how many fired.

    One failing escalation (GitHub unreachable, an uninstalled App) is logged and tried
    again on the next check; it does not stop the others."""
    fired = 0
    finished: list[str] = []
    for alert in await _pending(store):
        record = await store.get_state(ESCALATIONS, alert)
        if not isinstance(record, dict) or record.get("state") in (DONE, CANCELLED):
            finished.append(alert)
            continue
        if record.get("state") != PENDING or float(record["due"]) > now:
            continue
        installation = record.get("installation") or await store.installation_for_repo(
            str(record["repo"])
        )
        if installation is None:
            log.warning("no installation for an escalation", extra={"repo": record["repo"]})
            continue
        try:
            gh = await client_for(int(installation))
            posted = await _escalate(record, gh)
        except gidgethub.GitHubException as exc:
            log.warning(
                "escalation failed; will retry",
                extra={"repo": record["repo"], "alert": alert, "error": str(exc)},
            )
            continue
        await store.put_state(ESCALATIONS, alert, record | {"state": DONE if posted else CANCELLED})
        finished.append(alert)
        fired += int(posted)
        log.info("escalated", extra={"repo": record["repo"], "alert": alert, "posted": posted})
    if finished:
        async with _index_lock():
            pending = [a for a in await _pending(store) if a not in finished]
            await store.put_state(ESCALATIONS, PENDING_KEY, pending)
    return fired
