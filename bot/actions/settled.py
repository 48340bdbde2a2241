"""A recovered alert's culprit, settled after the alert closed.

A confirmation rerun takes as long as the job, and a breakage's fix often lands first: the
alert recovers with its culprit still being confirmed. When the rerun (or a result below
the first failure) reports later, the tracker emits a second CLOSE naming what changed
(`Decision.changed`). The closed issue's body then says the culprit at its top, and a
comment tells who watched the issue when the culprit is confirmed or the blame moved past the
commits the issue named; the labels went at the close and stay off.
"""

from __future__ import annotations

import hashlib

from gidgethub.abc import GitHubAPI

from bot.actions import alert_issue, alert_text, issue_calls
from bot.actions.alert_issue import AlertIssue
from bot.actions.alert_text import BodyContext, commit_link
from bot.actions.book import RecordBook
from bot.actions.policy import AlertPolicy
from bot.tracker.model import CulpritStatus, Decision


async def announce(
    gh: GitHubAPI,
    decision: Decision,
    policy: AlertPolicy,
    record: AlertIssue,
    records: RecordBook,
    ctx: BodyContext,
) -> None:
    """Edit the closed issue's body to the settled culprit (quietly: GitHub notifies nobody
    of an edit), and comment once when a culprit is confirmed or the suspects move past
    those the issue named."""
    body = alert_text.body(decision, ctx)
    digest = alert_text.body_hash(alert_text.title(decision, policy), body)
    moved = bool(set(decision.suspects) - set(record.suspects))
    if digest != record.body_hash or moved:
        if digest != record.body_hash:
            await issue_calls.edit(gh, record.repo, record.number, body=body)
        record.body_hash, record.suspects = digest, list(decision.suspects)
        await alert_issue.save(records, record)
    confirmed = any(b.status is CulpritStatus.CONFIRMED for b in decision.breakages)
    if not (moved or confirmed):
        return  # (narrower, not yet sure: the body says it)
    finding = hashlib.sha256(_finding(decision).encode()).hexdigest()[:16]
    await issue_calls.comment_once(
        gh,
        record.repo,
        record.number,
        comment(decision, ctx),
        "settled",
        policy,
        alert=decision.alert,
        finding=finding,
    )


def _finding(decision: Decision) -> str:
    """What the comment is about: the suspects and how sure each breakage is."""
    parts = [f"{b.first_failure}:{b.status.value}:{b.culprit or ''}" for b in decision.breakages]
    return "|".join([",".join(decision.suspects), *parts])


def comment(decision: Decision, ctx: BodyContext) -> str:
    """After the recovery: the culprit confirmed, or the suspects moved."""
    confirmed = [b for b in decision.breakages if b.status is CulpritStatus.CONFIRMED]
    if confirmed:
        culprits = ", ".join(commit_link(b.culprit or "", ctx) for b in confirmed)
        return (
            f"🔎 Confirmed after the recovery: {culprits} broke it (it fails there on two"
            " attempts and passes on its parent)."
        )
    shown = ", ".join(commit_link(sha, ctx) for sha in decision.suspects[:10])
    more = len(decision.suspects) - 10
    shown += f" and {more} more" if more > 0 else ""
    return (
        "🔎 After the recovery, results that were still coming moved the suspects: now"
        f" {shown or 'none known'}. The top of this issue shows the evidence."
    )
