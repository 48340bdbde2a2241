"""The engine: one repository's tracker, fed facts by the handlers, kept in step with the store.

A delivery is processed as one unit of work: the handlers add facts through the engine, the
tracker answers with decisions, the sink acts on them, and the worker then commits the facts,
the new alert states and the delivery's completion in one transaction. If anything fails
before that commit, the repository's tracker is dropped and rebuilt from the store on the next
attempt, so the same decisions come out again (the sink's actions are idempotent).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gidgethub.abc import GitHubAPI

from bot.store.base import Changes, Store, StoredCommit
from bot.tracker import RepoTracker
from bot.tracker.model import AlertState, Decision, JobResult, Push, TrackerConfig

log = logging.getLogger(__name__)

JOB_EVENTS = "workflow_job_events"  # state namespace: repositories that send workflow_job


class RepoConfigLike(Protocol):
    """What the engine needs of a repository's configuration."""

    def tracker_config(self, default_branch: str) -> TrackerConfig: ...


class ConfigSource(Protocol):
    """Where a repository's configuration comes from (GitHub, or a fixed file for replay)."""

    async def for_repo(
        self, gh: GitHubAPI | None, repo: str, default_branch: str
    ) -> RepoConfigLike | None:
        """The repository's configuration, or None when it has none (nothing is watched)."""

    def invalidate(self, repo: str) -> None:
        """Forget the cached configuration (a push changed the file)."""


class DecisionSink(Protocol):
    """Acts on the tracker's decisions: on GitHub, or printed by a dry run."""

    async def act(
        self,
        decisions: Sequence[Decision],
        gh: GitHubAPI | None,
        config: RepoConfigLike,
        unit: Unit,
    ) -> None: ...


@dataclass
class Unit:
    """The work of one delivery: what it changes and what it decided."""

    delivery_id: str
    changes: Changes = field(default_factory=Changes)
    decisions: list[Decision] = field(default_factory=list)
    configs: dict[str, RepoConfigLike] = field(default_factory=dict)  # repo → config used


@dataclass
class _Loaded:
    tracker: RepoTracker
    config: RepoConfigLike
    tracker_config: TrackerConfig
    version: int  # the store's version of the repository this tracker reflects
    default_branch: str = "main"


class Engine:
    """Keeps one RepoTracker per repository, loaded from the store on first use."""

    def __init__(self, store: Store, configs: ConfigSource) -> None:
        self._store = store
        self._configs = configs
        self._loaded: dict[str, _Loaded] = {}
        self._job_event_repos: set[str] = set()
        # The unit of the delivery being processed, per repository (one at a time per repo).
        self._units: dict[str, Unit] = {}

    def config_changed(self, repo: str) -> None:
        self._configs.invalidate(repo)

    async def note_job_events(self, repo: str) -> None:
        """Remember that the repository sends `workflow_job` events: no job listing needed."""
        if repo in self._job_event_repos:
            return
        await self._store.put_state(JOB_EVENTS, repo, True)
        self._job_event_repos.add(repo)

    async def receives_job_events(self, repo: str) -> bool:
        if repo not in self._job_event_repos and await self._store.get_state(JOB_EVENTS, repo):
            self._job_event_repos.add(repo)
        return repo in self._job_event_repos

    async def tracker(
        self, gh: GitHubAPI | None, repo: str, default_branch: str, unit: Unit
    ) -> RepoTracker | None:
        """The repository's tracker, up to date with its configuration; None when unwatched."""
        config = await self._configs.for_repo(gh, repo, default_branch)
        if config is None:
            return None
        unit.configs[repo] = config
        self._units[repo] = unit
        tracker_config = config.tracker_config(default_branch)
        loaded = self._loaded.get(repo)
        version = await self._store.repo_version(repo)
        if loaded is not None and loaded.version != version:
            # Another replica wrote this repository since we loaded it: start afresh.
            loaded = None
        if loaded is None:
            tracker = await self._load(repo, tracker_config)
            loaded = self._loaded[repo] = _Loaded(
                tracker, config, tracker_config, version, default_branch
            )
            # Decisions from facts that were stored but whose effects were not (a crash).
            self._collect(unit, repo, loaded.tracker, loaded.tracker.evaluate())
        elif loaded.tracker_config != tracker_config:
            loaded.config, loaded.tracker_config = config, tracker_config
            self._collect(unit, repo, loaded.tracker, loaded.tracker.set_config(tracker_config))
        return loaded.tracker

    async def _load(self, repo: str, config: TrackerConfig) -> RepoTracker:
        alerts = await self._store.load_alerts(repo)
        tracker = RepoTracker(repo, config, alerts)
        commits = await self._store.load_commits(repo)
        results = await self._store.load_results(repo)
        tracker.load([(c.branch, c.commit, c.parent) for c in commits], results)
        return tracker

    def loaded_alerts(self) -> list[AlertState]:
        """The alerts of every repository loaded in this process (for /metrics)."""
        return [alert for entry in self._loaded.values() for alert in entry.tracker.alerts()]

    def committed(self, unit: Unit) -> None:
        """The unit's changes are in the store: our trackers reflect the new versions (only
        the holder of a repository's claim writes it, so nobody else moved them meanwhile)."""
        for repo in unit.changes.repos():
            loaded = self._loaded.get(repo)
            if loaded is not None:
                loaded.version += 1

    async def prune(self) -> int:
        """Delete stored commits (and their results) that the trackers no longer keep: older
        than each branch's retention window. Returns how many commits went."""
        removed = 0
        for repo, loaded in list(self._loaded.items()):
            for branch in loaded.tracker_config.branches:
                keep = [commit.sha for commit in loaded.tracker.trunk(branch)]
                if keep:
                    removed += await self._store.prune(repo, branch, keep)
        return removed

    def forget(self, repo: str) -> None:
        """Drop the in-memory state of a repository; the next use reloads it from the store."""
        self._loaded.pop(repo, None)

    def forget_all(self) -> None:
        self._loaded.clear()

    def loaded(self, repo: str) -> RepoTracker | None:
        entry = self._loaded.get(repo)
        return entry.tracker if entry else None

    def passed_since(
        self, repo: str, branch: str, group: str, keys: Sequence[str], sha: str
    ) -> bool:
        """Whether each of the group's job `keys` (as `str(JobKey)`) passed on a commit of the
        branch after `sha`: the jobs of a breakage that left its alert recovered, else a rerun
        of a failure interrupted their streak. True when this is not known here."""
        tracker = self.loaded(repo)
        if tracker is None:
            return True
        order = {info.sha: i for i, info in enumerate(tracker.trunk(branch))}
        if sha not in order:
            return True
        last_pass = {
            str(job.key): job.last_passing_sha for job in tracker.group_status(branch, group).jobs
        }
        return all(order.get(last_pass.get(key) or "", -1) > order[sha] for key in keys)

    def loaded_at(self, repo: str, version: int) -> RepoTracker | None:
        """The loaded tracker if it reflects the store's `version` of the repository (for the
        status page, which otherwise rebuilds one from the store)."""
        entry = self._loaded.get(repo)
        return entry.tracker if entry is not None and entry.version == version else None

    async def push(self, gh: GitHubAPI | None, push: Push, default_branch: str, unit: Unit) -> None:
        tracker = await self.tracker(gh, push.repo, default_branch, unit)
        if tracker is None or push.branch not in tracker.config.branches:
            return
        parent: str | None = push.before
        for commit in push.commits:
            unit.changes.commits.append(StoredCommit(push.repo, push.branch, commit, parent))
            parent = commit.sha
        self._collect(unit, push.repo, tracker, tracker.apply(push))

    async def results(
        self,
        gh: GitHubAPI | None,
        repo: str,
        default_branch: str,
        results: Iterable[JobResult],
        unit: Unit,
    ) -> None:
        tracker = await self.tracker(gh, repo, default_branch, unit)
        if tracker is None:
            return
        for received in results:
            result = tracker.placed(received)
            if result is None:
                continue
            unit.changes.results.append(result)
            self._collect(unit, repo, tracker, tracker.apply(result))

    async def tick(
        self, gh: GitHubAPI | None, repo: str, default_branch: str, now: float, unit: Unit
    ) -> None:
        """Time passed: pending results may have timed out, provisional suspects waited."""
        tracker = await self.tracker(gh, repo, default_branch, unit)
        if tracker is not None:
            self._collect(unit, repo, tracker, tracker.tick(now))

    def runner_failures(self) -> dict[str, int]:
        """Runner (not code) failures on the retained commits of the loaded repositories,
        by group."""
        counts: dict[str, int] = {}
        for entry in self._loaded.values():
            tracker = entry.tracker
            for branch in tracker.config.branches:
                for rule in tracker.config.groups:
                    status = tracker.group_status(branch, rule.name)
                    infra = sum(job.infra for job in status.jobs)
                    counts[rule.name] = counts.get(rule.name, 0) + infra
        return counts

    def deadlines(self) -> list[tuple[str, str, float]]:
        """(repository, its default branch, when) of the next timer of each loaded
        repository that has one."""
        due = [
            (repo, entry.default_branch, entry.tracker.next_deadline())
            for repo, entry in self._loaded.items()
        ]
        return [(repo, branch, when) for repo, branch, when in due if when is not None]

    async def resolve(
        self,
        gh: GitHubAPI | None,
        repo: str,
        default_branch: str,
        branch: str,
        group: str,
        unit: Unit,
    ) -> list[Decision]:
        """A person resolved the group's open alert."""
        tracker = await self.tracker(gh, repo, default_branch, unit)
        if tracker is None:
            return []
        decisions = tracker.resolve(branch, group)
        self._collect(unit, repo, tracker, decisions)
        return decisions

    async def closed_by_person(self, decision: Decision, issue_number: int) -> None:
        """The alert's issue was found closed by a person: resolve the alert, within the
        delivery being processed, so the same streak is not refiled."""
        loaded, unit = self._loaded.get(decision.repo), self._units.get(decision.repo)
        if loaded is None or unit is None:
            return
        decisions = loaded.tracker.resolve(decision.branch, decision.group)
        self._collect(unit, decision.repo, loaded.tracker, decisions)

    def _collect(
        self, unit: Unit, repo: str, tracker: RepoTracker, decisions: Sequence[Decision]
    ) -> None:
        if not decisions:
            return
        unit.decisions.extend(decisions)
        touched = {d.alert for d in decisions}
        by_id = {a.alert: a for a in unit.changes.alerts}
        for alert in tracker.alerts():
            if alert.alert in touched:
                by_id[alert.alert] = alert
        unit.changes.alerts = list(by_id.values())
        for decision in decisions:
            log.info(
                "decision",
                extra={
                    "repo": repo,
                    "decision": decision.kind.value,
                    "alert": decision.alert,
                    "group": decision.group,
                    "branch": decision.branch,
                    "streak": decision.streak,
                },
            )
