"""What a command runs with: the comment, the repository, and the alert it was typed on."""

from __future__ import annotations

from dataclasses import dataclass, field

from gidgethub.abc import GitHubAPI

from bot.actions import alert_issue
from bot.actions import markdown as md
from bot.actions.alert_issue import AlertIssue
from bot.actions.policy import AlertPolicy, PolicyFor
from bot.config import RepoConfig
from bot.engine import Engine, Unit
from bot.store.base import Store
from bot.store.record_view import Records
from bot.tracker import RepoTracker
from bot.tracker.model import AlertState


@dataclass
class AlertTarget:
    """The alert an issue was filed for: its issue, and the tracker's state of it."""

    issue: AlertIssue
    state: AlertState | None  # None when the tracker no longer knows it


@dataclass
class IssueRef:
    """The issue or pull request a comment was made on, as the payload describes it."""

    number: int
    url: str
    body: str | None
    by_bot: bool  # opened by an App
    is_pull: bool
    author: str = ""  # the login that opened it: only the App's own issues are alert issues


@dataclass
class CommandContext:
    gh: GitHubAPI
    store: Store
    engine: Engine
    unit: Unit
    repo: str
    default_branch: str
    config: RepoConfig | None  # None: the repository is not watched
    prefix: str
    app_slug: str
    issue: IssueRef
    comment_id: int
    author: str
    now: float  # unix seconds
    policy_for: PolicyFor  # a group's policy in `config` (`bot.policies.policy_for`)
    _target: AlertTarget | None = field(default=None, init=False)
    _looked: bool = field(default=False, init=False)

    @property
    def records(self) -> Records:
        """The typed records, written with this delivery."""
        return Records(self.store, self.unit.changes)

    @property
    def issue_number(self) -> int:
        return self.issue.number

    def policy(self, group: str) -> AlertPolicy:
        return self.policy_for(self.config, group, app_slug=self.app_slug)

    async def tracker(self) -> RepoTracker | None:
        return await self.engine.tracker(self.gh, self.repo, self.default_branch, self.unit)

    async def alert_target(self) -> AlertTarget | None:
        """The alert this comment's issue was filed for, or None for any other issue."""
        if not self._looked:
            self._target = await self._find_target()
            self._looked = True
        return self._target

    async def _find_target(self) -> AlertTarget | None:
        if self.issue.is_pull:
            return None
        alert_id = await alert_issue.alert_for_issue(self.records, self.repo, self.issue.number)
        record = await alert_issue.load(self.records, alert_id) if alert_id else None
        if record is None:
            record = await self._from_marker()
        if record is None or record.repo.lower() != self.repo.lower():
            return None
        tracker = await self.tracker()
        states = tracker.alerts() if tracker is not None else []
        return AlertTarget(record, next((s for s in states if s.alert == record.alert), None))

    async def _from_marker(self) -> AlertIssue | None:
        """The store lost the issue: read its marker, trusted only on the App's own issues."""
        own = self.issue.author.lower() == self.policy("").bot_login.lower()
        key = md.parse_alert_marker(self.issue.body) if own else None
        found = md.find_marker(self.issue.body, "alert")
        alert = found.get("alert") if found is not None else None
        if key is None or not alert:
            return None
        return AlertIssue(
            alert=alert,
            repo=key.repo,
            branch=key.branch,
            group=key.group,
            number=self.issue.number,
            url=self.issue.url,
        )
