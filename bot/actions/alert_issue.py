"""The alert issue's record: what the store keeps of an alert's issue, found by alert, by issue
number or by group (or adopted from an issue found on GitHub by its marker), and how the
breakages its body shows changed since it last showed them.

One open issue per (repository, branch, group). Its text is `alert_text`; the calls that file,
find, edit, comment on and close it are `issue_calls`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.actions import markdown as md
from bot.actions.book import RecordBook
from bot.actions.policy import AlertPolicy
from bot.github.rest import Issue
from bot.records import AlertIssue as AlertIssue  # the record, where the actions name it
from bot.tracker.model import Breakage, CulpritStatus, Decision

# What these were in the key/value state before typed records (carried over at start).
ISSUES = "alert_issue"  # alert id → AlertIssue
LATEST = "alert_latest"
BY_NUMBER = "alert_by_issue"

BY_BOT, BY_HUMAN = "bot", "human"  # who closed it


async def load(records: RecordBook, alert: str) -> AlertIssue | None:
    return await records.get(AlertIssue, alert)


async def save(records: RecordBook, issue: AlertIssue) -> None:
    await records.put(issue)


async def alert_for_issue(records: RecordBook, repo: str, number: int) -> str | None:
    """The alert id an issue was filed for (for slash commands typed on it)."""
    found = await records.find(AlertIssue, repo=repo, number=number)
    return found[0].alert if found else None


async def latest(records: RecordBook, key: md.AlertKey) -> AlertIssue | None:
    """The group's most recently filed issue (the next one links it as "previous")."""
    found = await records.find(AlertIssue, repo=key.repo, branch=key.branch, group=key.group)
    return max(found, key=lambda issue: issue.opened_at) if found else None


def adopt(decision: Decision, found: Issue, policy: AlertPolicy) -> AlertIssue:
    """A record for an alert issue found on GitHub: its owners were pinged when it was filed."""
    marker = md.find_marker(found.get("body"), "alert")
    previous_number = int((marker.get("previous") if marker else None) or 0)
    url = str(found.get("html_url") or "")
    previous = None
    if previous_number:
        previous = {"number": previous_number, "url": url.rsplit("/", 1)[0] + f"/{previous_number}"}
    try:
        opened_at = datetime.fromisoformat(str(found.get("created_at")).replace("Z", "+00:00"))
        opened = opened_at.timestamp()
    except ValueError:
        opened = 0.0
    return AlertIssue(
        alert=decision.alert,
        repo=decision.repo,
        branch=decision.branch,
        group=decision.group,
        number=int(found["number"]),
        url=url,
        owners=list(policy.owners),
        opened_at=opened,
        previous=previous,
    )


# --- breakages that join or recover --------------------------------------------------------


def breakage_summary(
    breakages: Sequence[Breakage], prs: Mapping[str, int] | None = None
) -> list[dict[str, Any]]:
    """What the alert's record keeps of the breakages the body shows, in its order: with its
    confirmed culprit (and its PR, from `prs` by sha), which the comment saying it recovered
    names, since the body no longer does."""
    kept: list[dict[str, Any]] = []
    for b in breakages:
        entry: dict[str, Any] = {"id": b.first_failure, "jobs": [str(key) for key in b.jobs]}
        if b.status is CulpritStatus.CONFIRMED and b.culprit is not None:
            entry["culprit"] = b.culprit
            if prs and b.culprit in prs:
                entry["pr"] = prs[b.culprit]
        kept.append(entry)
    return kept


@dataclass(frozen=True, slots=True)
class BreakageChanges:
    """Breakages that joined the alert since the body last showed it, and those that left it.

    A breakage is named by its first failure, which moves when an older failure of its jobs
    comes to light or two breakages merge: it counts as new only when none of its jobs was
    failing before, and as gone only when none of its jobs is failing now. A breakage that is
    gone has `recovered`, or is `interrupted`: its jobs left the alert without passing (a
    rerun of its first failure is running), and it is expected back."""

    before: list[dict[str, Any]]  # `breakage_summary` as last shown
    after: tuple[Breakage, ...]
    joined: tuple[Breakage, ...] = ()
    recovered: tuple[dict[str, Any], ...] = ()
    interrupted: tuple[dict[str, Any], ...] = ()

    @property
    def news(self) -> bool:
        """Whether there is something to say in a comment."""
        return bool(self.joined or self.recovered)

    @property
    def marker(self) -> str:
        """Names the change, so that its comment is posted once."""
        return " ".join(
            [f"+{b.first_failure}" for b in self.joined] + [f"-{r['id']}" for r in self.recovered]
        )

    def summary(self, prs: Mapping[str, int] | None = None) -> list[dict[str, Any]]:
        """What the record keeps now: the breakages shown, and those expected back."""
        return [*breakage_summary(self.after, prs), *self.interrupted]


def breakage_changes(
    before: Sequence[dict[str, Any]] | None,
    after: Sequence[Breakage],
    recovered: Callable[[dict[str, Any]], bool],
) -> BreakageChanges | None:
    """How the breakages last shown became the decision's; None when what was shown is not
    known. `recovered(summary)` tells a breakage that is gone recovered from one that is
    interrupted."""
    if not before or not after:
        return None
    shown = {str(b.get("id")) for b in before}
    failed = {str(job) for b in before for job in b.get("jobs") or ()}
    now = {b.first_failure for b in after}
    failing = {str(job) for b in after for job in b.jobs}
    joined = tuple(
        b for b in after if b.first_failure not in shown and not {str(k) for k in b.jobs} & failed
    )
    gone = [
        b for b in before if str(b.get("id")) not in now and not set(b.get("jobs") or ()) & failing
    ]
    over = tuple(b for b in gone if recovered(b))
    waiting = tuple(b for b in gone if b not in over)
    return BreakageChanges(list(before), tuple(after), joined, over, waiting)
