"""What an open alert says when it changes: one comment on a breakage that joined or recovered,
else on jobs that joined or left and new suspects, each posted once (its marker names the
change); and what the record notes the body shows now.

A first refresh (the issue just filed, or found again after a crash) says nothing: there is
nothing the readers saw before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from gidgethub.abc import GitHubAPI

from bot.actions import alert_text, issue_calls
from bot.actions.alert_issue import AlertIssue, BreakageChanges, breakage_changes, breakage_summary
from bot.actions.alert_text import BodyContext
from bot.actions.policy import AlertPolicy
from bot.tracker.model import Decision


async def announce(
    gh: GitHubAPI,
    decision: Decision,
    policy: AlertPolicy,
    record: AlertIssue,
    ctx: BodyContext,
    *,
    first: bool,
    known_before: bool,
    recovered: Callable[[dict[str, Any]], bool],
) -> BreakageChanges | None:
    """Comment on what changed since the body last showed it (a breakage that joined or
    recovered, else jobs that joined or left and new suspects), once; note in the record
    what it shows now. Returns how the breakages changed, when that is known."""
    breakages = None
    if not first:
        breakages = breakage_changes(record.breakages, decision.breakages, recovered)
    new_jobs = [str(job.key) for job in decision.jobs]
    # Provisional suspects (results still coming) are not announced: the comment says
    # what they became once the results are in.
    shown = record.suspects if decision.provisional else list(decision.suspects)
    # An interrupted breakage is expected back as it was: its jobs are not said to leave
    # (nor to join again), and the suspects are compared with those shown before it left.
    away = [job for b in breakages.interrupted for job in b["jobs"]] if breakages else []
    if away:
        new_jobs += [job for job in away if job not in new_jobs]
        shown = record.suspects
    changed = {"jobs", "suspects"} & set(decision.changed)
    before = (set(record.jobs), record.suspects)
    if breakages is not None and breakages.news:
        text = alert_text.breakage_comment(breakages, ctx)
        change = breakages.marker
        await issue_calls.comment_once(
            gh,
            record.repo,
            record.number,
            text,
            "breakage",
            policy,
            alert=record.alert,
            change=change,
        )
    elif changed and known_before and not first and before != (set(new_jobs), shown):
        previous = [job for job in record.jobs if job not in away]
        text = alert_text.update_comment(decision, previous, record.suspects, ctx, shown)
        revision = _revision(record, new_jobs, shown)
        await issue_calls.comment_once(
            gh,
            record.repo,
            record.number,
            text,
            "update",
            policy,
            alert=record.alert,
            rev=revision,
        )
        record.updates += 1
    record.jobs, record.suspects = new_jobs, shown
    prs = alert_text.pull_requests(ctx)
    if breakages is not None:
        record.breakages = breakages.summary(prs)
    else:
        record.breakages = breakage_summary(decision.breakages, prs)
    return breakages


def _revision(record: AlertIssue, jobs: Sequence[str], shas: Sequence[str]) -> str:
    """Names one change comment: what changed, from what, so a repeat finds its marker."""
    text = "|".join([*record.jobs, ">", *jobs, "#", *record.suspects, ">", *shas])
    return f"{record.updates}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"
