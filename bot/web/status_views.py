"""The status page's views, gathered from a repository's tracker and the store.

The tracker (rebuilt from the store) says what is broken; the stored job results give each
grid cell its link; the store's alert issues, acknowledgements, mutes and snoozes say what
people have done about it. Times are read as wall-clock times against `now`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from bot.actions.suspects import pr_number_from_message
from bot.commands import quiet
from bot.config import RepoConfig
from bot.records import PENDING, Ack, AlertIssue, Escalation
from bot.store.base import Store
from bot.tracker import RepoTracker
from bot.tracker.jobkeys import key_for, rule_matches
from bot.tracker.model import (
    AlertState,
    CommitInfo,
    Grid,
    GridCell,
    GroupRule,
    GroupStatus,
    JobKey,
    JobResult,
    TrackerConfig,
)
from bot.web.status_templates import (
    CELL_WORDS,
    AlertView,
    CellView,
    ColumnView,
    CommitView,
    GridView,
    GroupView,
    JobView,
    RepoView,
    RowView,
    duration,
    parse_time,
    subject,
    wall_clock,
)

GRID_COMMITS = 30


@dataclass(frozen=True, slots=True)
class PageConfig:
    """What the page needs of a repository's configuration."""

    tracker: TrackerConfig
    owners: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # group → owners

    @classmethod
    def of(cls, config: RepoConfig, default_branch: str) -> PageConfig:
        owners = {group.name: tuple(group.owners) for group in config.groups}
        return cls(config.tracker_config(default_branch), owners)


@dataclass(frozen=True, slots=True)
class RepoSnapshot:
    """A repository as the store holds it: its tracker, and each group's owners."""

    tracker: RepoTracker
    owners: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def commit_view(repo: str, commit: CommitInfo, now: datetime) -> CommitView:
    """The commit with the pull request its message names, linked next to it."""
    pr = pr_number_from_message(commit.message, repo)
    base, found, _ = commit.url.rpartition("/commit/")
    text = subject(commit.message)
    if pr is not None:  # the PR is linked next to it
        text = text.removesuffix(f"(#{pr})").rstrip()
    return CommitView(
        sha=commit.sha,
        url=commit.url,
        subject=text,
        author=commit.author,
        when=wall_clock(parse_time(commit.timestamp), now),
        pr=pr,
        pr_url=f"{base}/pull/{pr}" if pr is not None and found else "",
    )


def job_urls(
    results: Iterable[JobResult], rule: GroupRule, shas: Set[str]
) -> dict[tuple[str, JobKey], str]:
    """(commit, job key) → the newest attempt's page on GitHub, for the group's jobs on the
    commits `shas` (the grid's)."""
    urls: dict[tuple[str, JobKey], str] = {}
    keys: dict[tuple[str, str], JobKey | None] = {}  # each job name matched once
    for result in results:  # in the order stored: a later attempt replaces an earlier one
        if not result.url or result.head_sha not in shas:
            continue
        name = (result.workflow, result.job)
        if name not in keys:
            watched = rule_matches(rule, *name)
            keys[name] = key_for(*name, rule) if watched else None
        key = keys[name]
        if key is not None:
            urls[(result.head_sha, key)] = result.url
    return urls


def first_failures(grid: Grid, status: GroupStatus) -> dict[JobKey, str]:
    """Each failing job's first failing commit, when it is within the grid's rows."""
    found: dict[JobKey, str] = {}
    for column, key in enumerate(grid.keys):
        job = next((j for j in status.jobs if j.key == key), None)
        if job is None or job.streak == 0:
            continue
        failures = [row.commit.sha for row in grid.rows if row.cells[column] is GridCell.FAIL]
        if len(failures) >= job.streak:
            found[key] = failures[job.streak - 1]
    return found


class ViewBuilder:
    """Builds one repository's views at one moment."""

    def __init__(self, store: Store, snapshot: RepoSnapshot, now: datetime) -> None:
        self.store = store
        self.tracker = snapshot.tracker
        self.owners = snapshot.owners
        self.repo = snapshot.tracker.repo
        self.now = now

    def commit(self, sha: str) -> CommitView:
        return commit_view(self.repo, self.tracker.commit(sha) or CommitInfo(sha), self.now)

    async def repo_view(self, with_grid: bool) -> RepoView:
        # Everything from the tracker is read before the first await: one page, one moment.
        parts = []
        for branch in self.tracker.config.branches:
            for rule in self.tracker.config.groups:
                status = self.tracker.group_status(branch, rule.name)
                grid = self.tracker.grid(branch, rule.name, GRID_COMMITS)
                alert = self.tracker.open_alert(branch, rule.name)
                parts.append((self.group_view(rule, status, grid, alert), rule, status, grid))
        if with_grid:  # each cell links to its job: the results of the grid's commits
            shas = {row.commit.sha for _, _, _, grid in parts for row in grid.rows}
            results = await self.store.load_results_for(self.repo, sorted(shas))
            parts = [
                (
                    replace(view, grid=self.grid_view(rule, status, grid, results)),
                    rule,
                    status,
                    grid,
                )
                for view, rule, status, grid in parts
            ]
        groups = [await self.with_people(view, status) for view, _, status, _ in parts]
        return RepoView(self.repo, tuple(groups), watched=bool(groups))

    def group_view(
        self,
        rule: GroupRule,
        status: GroupStatus,
        grid: Grid,
        alert: AlertState | None,
    ) -> GroupView:
        first = first_failures(grid, status)
        if alert is not None:
            first.update((job.key, job.first_failing_sha) for job in alert.jobs)
        failing = sorted(
            (job for job in status.jobs if job.streak > 0), key=lambda j: (-j.streak, j.key)
        )
        jobs = tuple(
            JobView(
                name=str(job.key),
                streak=job.streak,
                over_threshold=job.streak >= rule.threshold,
                first_failing=self.commit(first[job.key]) if job.key in first else None,
                last_pass=job.last_passing_sha[:7] if job.last_passing_sha else None,
                url=job.latest_url,
            )
            for job in failing
        )
        breaking = [j for j in jobs if j.over_threshold and j.first_failing is not None]
        oldest = self._oldest([j.first_failing for j in breaking if j.first_failing])
        info = self.tracker.commit(oldest.sha) if oldest else None
        since = parse_time(info.timestamp) if info else None
        state = "broken" if status.broken else ("green" if status.jobs else "unknown")
        return GroupView(
            repo=self.repo,
            branch=status.branch,
            group=status.group,
            state=state,
            threshold=rule.threshold,
            job_count=len(status.jobs),
            owners=self.owners.get(rule.name, ()),
            failing_jobs=jobs,
            broken_for=duration((self.now - since).total_seconds()) if since else "",
            first_failing=oldest if status.broken else None,
            suspects=tuple(self.commit(sha) for sha in status.suspects),
            suspects_known=status.suspects_known,
            provisional=alert.provisional if alert else False,
            suspects_pending=len(alert.pending) if alert else 0,
            last_green=self.commit(status.last_green) if status.last_green else None,
            alert=AlertView(None, "", None) if status.open_alert else None,
        )

    def _oldest(self, commits: Sequence[CommitView]) -> CommitView | None:
        """The commit that comes first on the trunk among `commits`."""
        order: dict[str, int] = {}
        for branch in self.tracker.config.branches:
            for position, info in enumerate(self.tracker.trunk(branch)):
                order.setdefault(info.sha, position)
        return min(commits, key=lambda c: order.get(c.sha, 1 << 30), default=None)

    def grid_view(
        self, rule: GroupRule, status: GroupStatus, grid: Grid, results: Iterable[JobResult]
    ) -> GridView:
        failing = {j.key for j in status.jobs if j.streak >= rule.threshold}
        suspects = set(status.suspects)
        urls = job_urls(results, rule, {row.commit.sha for row in grid.rows})
        columns = tuple(
            ColumnView(f"J{i}", str(key), key in failing) for i, key in enumerate(grid.keys, 1)
        )
        rows = []
        for row in grid.rows:
            sha = row.commit.sha
            tag = "suspect" if sha in suspects else "last green" if sha == status.last_green else ""
            cells = tuple(
                CellView(
                    cell.value,
                    urls.get((sha, key), ""),
                    f"{key}: {CELL_WORDS[cell.value]} on {sha[:7]}",
                )
                for key, cell in zip(grid.keys, row.cells, strict=True)
            )
            rows.append(RowView(commit_view(self.repo, row.commit, self.now), tag, cells))
        return GridView(columns, tuple(rows))

    async def with_people(self, view: GroupView, status: GroupStatus) -> GroupView:
        """What people did: the alert's issue, who acknowledged it, mutes and snoozes."""
        moment = self.now.timestamp()
        changes: dict[str, Any] = {}
        if status.open_alert:
            issue = await self.store.get_record(AlertIssue, status.open_alert)
            ack = await self.store.get_record(Ack, status.open_alert)
            escalation = await self.store.get_record(Escalation, status.open_alert)
            pending = escalation is not None and escalation.state == PENDING
            changes["alert"] = AlertView(
                issue.number if issue else None,
                issue.url if issue else "",
                ack.by if ack and ack.by else None,
                tuple(escalation.owners) if escalation and pending else (),
                self._at(ack.at) if ack and ack.by else "",
            )
        mute = await quiet.muted(self.store, self.repo, view.group, moment)
        if mute is not None:
            changes["muted"] = f"until {self._at(mute.until)}, by {mute.by}"
        snooze = await quiet.snoozed(self.store, self.repo, view.branch, view.group, moment)
        if snooze is not None:
            end = "the group is green again" if snooze.until_green else self._at(snooze.until)
            changes["snoozed"] = f"until {end}, by {snooze.by}"
        return replace(view, **changes) if changes else view

    def _at(self, timestamp: float) -> str:
        return wall_clock(datetime.fromtimestamp(timestamp, self.now.tzinfo), self.now)
