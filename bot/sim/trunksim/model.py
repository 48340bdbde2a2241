"""A generated trunk's values: its knobs, its breakages, and the runs planned or asked for."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.sim.trunksim.workflows import WORKFLOWS, Suite

EPOCH = datetime(2026, 11, 2, tzinfo=UTC)
FAILING = ("failure", "timed_out")


@dataclass(frozen=True)
class Breakage:
    """A real breakage: these jobs fail from `culprit` until `fix` (exclusive)."""

    kind: str  # "suite", "build" or "scattered"
    workflow: str
    culprit: int
    fix: int
    jobs: frozenset[str]  # exact job names that fail
    keys: frozenset[str]  # their job keys ("workflow / normalized name")


@dataclass
class Knobs:
    commits: int = 1000
    seed: int = 1
    breakages: int = 5
    flake_rate: float = 0.02
    rerun_rate: float = 0.7  # failed runs rerun (failed jobs only)
    supersede_rate: float = 0.03  # runs cancelled by the next push
    outages: int = 4
    late_rate: float = 0.03  # deliveries held back 10-60 minutes
    # A breakage's fix lands this many minutes after the culprit's push: its failures take
    # 15 min to 2.5 h to report, then someone finds the culprit and lands a revert or a fix.
    fix_minutes: tuple[float, float] = (90.0, 360.0)
    fix_commits: tuple[int, int] | None = None  # instead: this many commits after it
    overlap: bool = False  # each breakage has a second one in its group while it is red
    push_gap_minutes: float = 4.0  # mean minutes between pushes
    stack: tuple[int, int] = (1, 4)  # commits per push, fewest and most
    last_commit_only: bool = False  # workflows run on the last commit of each push only
    workflow_jobs: bool = True  # the repository sends `workflow_job` events
    announcements: bool = True  # False: only completions (how the App saw a trunk before
    # it tracked pending results), to measure what tracking them changes
    workflows: dict[str, tuple[Suite, ...]] = field(default_factory=lambda: dict(WORKFLOWS))


@dataclass(order=True)
class Event:
    at: float  # minutes since EPOCH when it arrives
    order: int
    kind: str = field(compare=False)  # "push", "run", "job"
    data: dict[str, Any] = field(compare=False)


@dataclass
class Attempt:
    """One attempt of a run: when it was requested and done, and its jobs' results."""

    number: int
    start: float
    done: float  # when the run attempt completed (not when its delivery arrives)
    jobs: dict[str, tuple[int, str]]  # job name → (job id, conclusion)
    requested: float  # when it was asked for (its start, unless it waited for a runner)


@dataclass
class RunRecord:
    """A workflow run on one commit, planned or asked for, with its attempts."""

    index: int
    workflow: str
    branch: str  # head_branch: the trunk's branch, or the tag that started it
    attempts: list[Attempt] = field(default_factory=list)

    def conclusions(self) -> dict[str, str]:
        """Job name → the conclusion of its latest attempt (a rerun keeps the others)."""
        latest: dict[str, str] = {}
        for attempt in self.attempts:
            latest |= {name: conclusion for name, (_, conclusion) in attempt.jobs.items()}
        return latest


@dataclass(frozen=True)
class Request:
    """A run asked of the trunk while it was fed (or a tag deleted, a revert asked for).

    `ok` is what the caller was told; `covered` when a rerun someone had already
    requested (a planned one) stands for it, so no new attempt was started.
    """

    kind: str  # "rerun_job", "rerun_failed", "tag", "delete_tag" or "revert"
    sha: str  # the commit it concerns ("" when unknown)
    minute: float
    ok: bool
    workflow: str = ""  # reruns: the run's workflow
    job: str = ""  # rerun_job: the job's name
    tag: str = ""
    run_ids: tuple[int, ...] = ()  # tag: the runs it started
    covered: bool = False
