"""`issues`: people acting on an alert issue, seen at once rather than at the next edit.

- **closed**, **deleted** or **transferred** away by a person while the alert is open: the
  alert is resolved as a person's (the same streak is never refiled), its suspect labels
  are removed and its escalation is cancelled, as `/trunkwatch resolve` would.
- **reopened** by a person: the record says the issue is open again. The alert itself stays
  resolved (a closed alert is final); a new breakage files a new issue.
- **labeled**, **unlabeled**: the labels are the App's to set on its next edit; a person's
  change is left as it is and changes no alert.

Events the App caused itself (its own bot as the sender) and issues that are not alert
issues change nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gidgethub import routing, sansio
from gidgethub.abc import GitHubAPI

from bot.actions import alert_issue, escalation, issue_calls, suspect_labels
from bot.actions.policy import AlertPolicy
from bot.engine import ConfigSource, Engine, Unit
from bot.events import PayloadError, repo_of
from bot.policies import policy_for
from bot.store.base import Store
from bot.store.record_view import Records

log = logging.getLogger(__name__)

router = routing.Router()

GONE = ("closed", "deleted", "transferred")


@dataclass(frozen=True, slots=True)
class IssueChange:
    action: str
    repo: str
    default_branch: str
    number: int
    by_bot: bool
    sender: str


def parse_issue_change(payload: Mapping[str, Any]) -> IssueChange:
    repo = repo_of(payload)
    issue, sender = payload.get("issue"), payload.get("sender")
    if not isinstance(issue, Mapping) or type(issue.get("number")) is not int:
        raise PayloadError("payload has no issue.number")
    sender = sender if isinstance(sender, Mapping) else {}
    login = str(sender.get("login") or "")
    return IssueChange(
        action=str(payload.get("action") or ""),
        repo=repo.full_name,
        default_branch=repo.default_branch,
        number=int(issue["number"]),
        by_bot=sender.get("type") == "Bot" or login.endswith("[bot]"),
        sender=login,
    )


@router.register("issues", action="closed")
@router.register("issues", action="deleted")
@router.register("issues", action="transferred")
@router.register("issues", action="reopened")
async def on_issue_changed(
    event: sansio.Event,
    gh: GitHubAPI | None,
    *,
    engine: Engine,
    store: Store,
    config: ConfigSource,
    unit: Unit,
    **_: Any,
) -> None:
    change = parse_issue_change(event.data)
    if change.by_bot:
        return
    records = Records(store, unit.changes)
    alert = await alert_issue.alert_for_issue(records, change.repo, change.number)
    record = await alert_issue.load(records, alert) if alert else None
    if record is None:
        return
    context = {"repo": change.repo, "issue": change.number, "by": change.sender}
    if change.action == "reopened":
        if record.state == issue_calls.CLOSED:
            record.state, record.closed_by = issue_calls.OPEN, ""
            await alert_issue.save(records, record)
            log.info("alert issue reopened by a person", extra=context)
        return
    if record.state != issue_calls.OPEN:
        return
    record.state, record.closed_by = issue_calls.CLOSED, alert_issue.BY_HUMAN
    await alert_issue.save(records, record)
    log.info(f"alert issue {change.action} by a person; the alert is resolved", extra=context)
    if gh is not None:
        repo_config = await config.for_repo(gh, change.repo, change.default_branch)
        policy = policy_for(repo_config, record.group) if repo_config is not None else None
        await suspect_labels.release_all(
            gh, records, record.repo, record.alert, policy or AlertPolicy(group=record.group)
        )
    await escalation.cancel(records, record.alert)
    tracker = await engine.tracker(gh, change.repo, change.default_branch, unit)
    open_alert = tracker.open_alert(record.branch, record.group) if tracker else None
    if open_alert is not None and open_alert.alert == record.alert:
        branch, group = record.branch, record.group
        await engine.resolve(gh, change.repo, change.default_branch, branch, group, unit)
