"""The owners of an alert: assigned when it is filed, escalated to when nobody acknowledges.

Owners are mentioned once, in the body the issue is created with (so a retried delivery
that finds the issue again pings nobody twice); the users among them are assigned, teams
cannot be. When the group has `escalate_after`, a timer is written to the store; the worker
calls `check_escalations` periodically, and an alert nobody has acknowledged by then gets
one comment pinging the `escalation_owners`. The timer survives restarts because it is
data, not a sleeping task.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import gidgethub
from gidgethub.abc import GitHubAPI

from bot.actions import alert_issue, issue_calls
from bot.actions import markdown as md
from bot.actions.alert_issue import AlertIssue
from bot.actions.book import RecordBook
from bot.actions.issue_calls import repo_vars
from bot.actions.policy import DEFAULT_APP_SLUG, AlertPolicy, users_among
from bot.records import ACKED, CANCELLED, DONE, PENDING, Escalation, copy

log = logging.getLogger(__name__)

ESCALATIONS = "alert_escalation"  # before typed records (carried over at start)
ASSIGNEES_PATH = "/repos/{owner}/{repo}/issues/{number}/assignees"
MAX_ASSIGNEES = 10  # GitHub keeps at most ten
# A replica that claimed an escalation has this long to post it before another may.
CLAIM_SECONDS = 300.0
ESCALATIONS_PER_CHECK = 100

ClientFor = Callable[[int], Awaitable[Any]]


def owner_line(owners: Sequence[str]) -> str:
    return ", ".join(md.mention(owner) for owner in owners)


async def assign(gh: GitHubAPI, repo: str, number: int, owners: Sequence[str]) -> None:
    """Assign the users among `owners` (adding assignees is idempotent on GitHub)."""
    users = [owner.removeprefix("@") for owner in users_among(owners)]
    if users:
        await gh.post(
            ASSIGNEES_PATH,
            repo_vars(repo, number=number),
            data={"assignees": users[:MAX_ASSIGNEES]},
        )


async def schedule(
    records: RecordBook,
    issue: AlertIssue,
    policy: AlertPolicy,
    now: float,
    installation_id: int | None,
) -> None:
    """Start the escalation timer of a newly filed alert (once: a retry keeps the first)."""
    if policy.escalate_after is None or not policy.escalation_owners:
        return
    if await records.get(Escalation, issue.alert) is not None:
        return
    await records.put(
        Escalation(
            alert=issue.alert,
            repo=issue.repo,
            number=issue.number,
            due=now + policy.escalate_after,
            after=policy.escalate_after,
            owners=list(policy.escalation_owners),
            installation=installation_id,
            app_slug=policy.app_slug,
            prefix=policy.commands_prefix,
        )
    )


async def cancel(records: RecordBook, alert: str) -> None:
    """The alert is over: its escalation will never fire."""
    record = await records.get(Escalation, alert)
    if record is not None and record.state in (PENDING, ACKED):
        await records.put(copy(record, state=CANCELLED))


async def _record_for_issue(records: RecordBook, repo: str, number: int) -> Escalation | None:
    alert = await alert_issue.alert_for_issue(records, repo, number)
    return await records.get(Escalation, alert) if alert else None


async def ack(records: RecordBook, repo: str, number: int, by: str) -> bool:
    """`/trunkwatch ack` on the alert issue: someone is on it, so no escalation.
    Returns False when the issue has no escalation that could still fire."""
    record = await _record_for_issue(records, repo, number)
    if record is None or record.state not in (PENDING, ACKED):
        return False
    await records.put(copy(record, state=ACKED, acked_by=by))
    return True


async def unack(records: RecordBook, repo: str, number: int, now: float) -> bool:
    """`/trunkwatch unack`: nobody is on it after all; the escalation fires `escalate_after`
    from now unless acknowledged again. False when there is no acknowledgement to withdraw."""
    record = await _record_for_issue(records, repo, number)
    if record is None or record.state != ACKED:
        return False
    await records.put(copy(record, state=PENDING, acked_by=None, due=now + record.after))
    return True


def escalation_comment(owners: Sequence[str], after: float, prefix: str) -> str:
    hours, minutes = divmod(round(after / 60), 60)
    waited = f"{hours} h {minutes} min" if hours else f"{max(minutes, 1)} min"
    return (
        f"⏫ Nobody has acknowledged this alert within {waited}. {owner_line(owners)}, please"
        f" take a look. Comment `{md.one_line(prefix, 40)} ack` when someone is on it."
    )


async def _escalate(record: Escalation, gh: GitHubAPI) -> bool:
    """Post the escalation; False when the issue is already closed (nothing to escalate)."""
    found = await issue_calls.get(gh, record.repo, record.number)
    if found is None or found.get("state") != issue_calls.OPEN:
        return False
    policy = AlertPolicy(
        group="",
        app_slug=record.app_slug or DEFAULT_APP_SLUG,
        commands_prefix=record.prefix or "/trunkwatch",
    )
    text = escalation_comment(record.owners, record.after, policy.commands_prefix)
    await issue_calls.comment_once(
        gh, record.repo, record.number, text, "escalation", policy, alert=record.alert
    )
    return True


async def check_escalations(records: RecordBook, client_for: ClientFor, now: float) -> int:
    """Fire the escalations that are due and not acknowledged. Returns how many fired.

    Each due escalation is claimed in the store first, so with several replicas each fires
    once. One failing escalation (GitHub unreachable, an uninstalled App) is logged, handed
    back and tried again at the next check; it does not stop the others."""
    fired = 0
    store = records.store
    records = records.at_once()  # a claim handed back, or done, is seen at once by every replica
    for record in await store.claim_escalations(now, CLAIM_SECONDS, ESCALATIONS_PER_CHECK):
        context = {"repo": record.repo, "alert": record.alert}
        installation = record.installation or await store.installation_for_repo(record.repo)
        if installation is None:
            log.warning("no installation for an escalation", extra=context)
            continue
        try:
            gh = await client_for(int(installation))
            posted = await _escalate(record, gh)
        except gidgethub.GitHubException as exc:
            log.warning("escalation failed; will retry", extra=context | {"error": str(exc)})
            await records.put(copy(record, claimed_until=0.0))  # claimable at the next check
            continue
        await records.put(copy(record, state=DONE if posted else CANCELLED, claimed_until=0.0))
        fired += int(posted)
        log.info("escalated", extra=context | {"posted": posted})
    return fired
