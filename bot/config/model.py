"""A repository's configuration as the App uses it, with the defaults of DESIGN.md."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from bot.tracker.model import PARALLEL_BISECT, GroupRule, TrackerConfig

CONFIG_PATH = ".github/trunkwatch.yml"
SHA_PLACEHOLDER = "{sha}"
TAGS_PREFIX = "refs/tags/"

ConfirmMode = Literal["off", "rerun"]
RevertMode = Literal["off", "suggest", "auto"]


def is_team(owner: str) -> bool:
    """Owners are stored as `login` for users and `@org/team` for teams."""
    return owner.startswith("@")


@dataclass(frozen=True, slots=True)
class GroupConfig:
    """One `groups:` entry: which jobs are watched together, and who hears about them."""

    name: str
    workflows: tuple[str, ...] = ("*",)
    jobs: tuple[str, ...] = ("*",)
    exclude_jobs: tuple[str, ...] = ()
    threshold: int = 3
    min_failing_jobs: int = 1
    priority: str = "P2"
    owners: tuple[str, ...] = ()
    escalate_after: timedelta | None = None
    escalation_owners: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    split_shards: bool = False

    @property
    def owner_users(self) -> tuple[str, ...]:
        """The owners that are users (they are assigned to the alert)."""
        return tuple(owner for owner in self.owners if not is_team(owner))

    @property
    def owner_teams(self) -> tuple[str, ...]:
        return tuple(owner for owner in self.owners if is_team(owner))

    def rule(self) -> GroupRule:
        return GroupRule(
            name=self.name,
            workflows=self.workflows,
            jobs=self.jobs,
            exclude_jobs=self.exclude_jobs,
            threshold=self.threshold,
            min_failing_jobs=self.min_failing_jobs,
            split_shards=self.split_shards,
        )


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    labels: tuple[str, ...] = ("ci: alert",)
    recovery_passes: int = 1
    retention_commits: int = 2000
    pending_timeout: timedelta = timedelta(hours=6)  # a result pending longer counts as none


@dataclass(frozen=True, slots=True)
class SuspectsConfig:
    label: str = "ci: suspected breakage"
    max_prs: int = 5
    comment: bool = True
    wait: timedelta = timedelta(minutes=30)  # label once no suspect is pending, or after this


@dataclass(frozen=True, slots=True)
class CommandsConfig:
    prefix: str = "/trunkwatch"


@dataclass(frozen=True, slots=True)
class CulpritConfig:
    """`culprit:`: confirming the first failing commit, bisecting, reverting."""

    confirm: ConfirmMode = "rerun"  # rerun the failing job at its first failing commit
    confirm_before_filing: bool = False  # an alert waits for that rerun before it is filed
    bisect_tag: str | None = "trunkwatch/bisect/{sha}"  # None: bisection off
    max_runs: int = 6  # reruns and bisection runs per alert
    bisect_at_once: int = PARALLEL_BISECT  # bisection runs at once on three untested commits
    revert: RevertMode = "off"
    max_reverts_per_day: int = 2
    no_revert_label: str = "trunkwatch: no revert"


@dataclass(frozen=True, slots=True)
class RepoConfig:
    """A repository's validated `.github/trunkwatch.yml`."""

    groups: tuple[GroupConfig, ...]
    branches: tuple[str, ...] | None = None  # None: the repository's default branch
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    suspects: SuspectsConfig = field(default_factory=SuspectsConfig)
    commands: CommandsConfig = field(default_factory=CommandsConfig)
    culprit: CulpritConfig = field(default_factory=CulpritConfig)

    def watched_branches(self, default_branch: str) -> tuple[str, ...]:
        return self.branches if self.branches is not None else (default_branch,)

    def group(self, name: str) -> GroupConfig | None:
        return next((group for group in self.groups if group.name == name), None)

    def tracker_config(self, default_branch: str) -> TrackerConfig:
        return TrackerConfig(
            groups=tuple(group.rule() for group in self.groups),
            branches=self.watched_branches(default_branch),
            recovery_passes=self.alerts.recovery_passes,
            retention_commits=self.alerts.retention_commits,
            pending_timeout=self.alerts.pending_timeout.total_seconds(),
            suspects_wait=self.suspects.wait.total_seconds(),
            confirm=self.culprit.confirm == "rerun",
            confirm_first=self.culprit.confirm_before_filing,
            bisect_tag=self.culprit.bisect_tag or "",
            bisect_at_once=self.culprit.bisect_at_once,
        )
