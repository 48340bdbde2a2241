"""The tracker's vocabulary: the facts it is fed and the decisions it returns.

Everything here is plain data (frozen dataclasses of str/int/tuple), so that the store can
persist it and tests can build it by hand. No I/O, standard library only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Outcome(enum.Enum):
    """What one job's result says about a commit."""

    PASS = "pass"
    FAIL = "fail"
    NONE = "none"  # cancelled, skipped, neutral, stale, action_required, or not completed


class State(enum.Enum):
    """What a job key says about a commit: the four states of the design."""

    PASS = "pass"
    FAIL = "fail"
    PENDING = "pending"  # requested, queued or running there: a result is coming
    NONE = "none"  # nothing will report there (or pending past `pending_timeout`)


COMPLETED = "completed"
# `workflow_run` requested/in_progress and `workflow_job` queued/in_progress/waiting.
PENDING_STATUSES = frozenset({"requested", "queued", "in_progress", "waiting", "pending"})


FAILING_CONCLUSIONS = frozenset({"failure", "timed_out"})
PASSING_CONCLUSIONS = frozenset({"success"})


def outcome_of(conclusion: str | None) -> Outcome:
    """Map a GitHub check conclusion to what it says about the commit."""
    if conclusion in PASSING_CONCLUSIONS:
        return Outcome.PASS
    if conclusion in FAILING_CONCLUSIONS:
        return Outcome.FAIL
    return Outcome.NONE


@dataclass(frozen=True, slots=True)
class CommitInfo:
    """A commit as a push payload describes it."""

    sha: str
    message: str = ""
    author: str = ""  # GitHub login when known, else the author's name
    timestamp: str = ""  # ISO 8601 as GitHub sends it
    url: str = ""


@dataclass(frozen=True, slots=True)
class Push:
    """A push to a branch: `before` → `after`, with the pushed commits oldest first."""

    repo: str  # "owner/name"
    branch: str  # without "refs/heads/"
    before: str
    after: str
    commits: tuple[CommitInfo, ...]
    delivery_id: str = ""
    forced: bool = False


@dataclass(frozen=True, slots=True)
class JobResult:
    """One attempt of one job (or, with job == "", of a whole workflow run).

    A run that has job-level results is judged by them; its run-level result then only
    serves as a pass for its jobs when the run succeeded (see the tracker). An attempt whose
    `status` is not "completed" is pending: it has been requested, queued or is running,
    since `started_at`; its completion replaces it, whatever the order they arrive in.
    """

    repo: str
    branch: str
    head_sha: str
    workflow: str
    job: str  # the job's name as GitHub shows it; "" for a workflow-level result
    run_id: int
    run_attempt: int
    conclusion: str | None
    job_id: int = 0
    url: str = ""  # html_url of the job (or run) for links in the alert
    completed_at: str = ""
    delivery_id: str = ""
    status: str = COMPLETED
    started_at: str = ""  # when a pending attempt was requested (or queued, or started)
    infra: bool = False  # failed before its first step ran: the runner, not the code
    runner: str = ""  # the runner type (its labels), for outages of one runner type

    @property
    def pending(self) -> bool:
        return self.status != COMPLETED


@dataclass(frozen=True, slots=True, order=True)
class JobKey:
    """A job as the tracker counts it: workflow + normalized job name ("" = whole run)."""

    workflow: str
    job: str

    def __str__(self) -> str:
        return f"{self.workflow} / {self.job}" if self.job else self.workflow


@dataclass(frozen=True, slots=True)
class GroupRule:
    """One group of jobs watched together (a `groups:` entry of the configuration)."""

    name: str
    workflows: tuple[str, ...] = ("*",)  # fnmatch globs on the workflow name
    jobs: tuple[str, ...] = ("*",)  # fnmatch globs on the job name
    exclude_jobs: tuple[str, ...] = ()
    threshold: int = 3
    min_failing_jobs: int = 1
    split_shards: bool = False  # keep "test (x, 1, 4, ...)" shards as separate job keys


def bisect_tag(pattern: str | None, sha: str) -> str | None:
    """The tag of a bisection run on `sha` (`pattern` with "{sha}" replaced); None when
    bisection is off (no pattern)."""
    return pattern.replace("{sha}", sha) if pattern else None


PARALLEL_BISECT = 3  # untested suspects run at once (a stack of 4 commits pushed together)


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    """What the tracker needs to know of a repository's configuration."""

    groups: tuple[GroupRule, ...]
    branches: tuple[str, ...] = ("main",)
    recovery_passes: int = 1
    retention_commits: int = 2000  # commits kept per branch; older ones are pruned
    pending_timeout: float = 6 * 3600.0  # seconds a result may stay pending before it is NONE
    suspects_wait: float = 30 * 60.0  # seconds suspects may stay provisional after opening
    confirm: bool = True  # want a rerun of the failing job at its first failure
    confirm_first: bool = False  # want it at once, not after the bisection (the alert waits)
    # The tag whose runs test a commit of a blamelist where a job never ran ("{sha}" is the
    # commit); their results count for that commit on its branch. "": no bisection.
    bisect_tag: str = "trunkwatch/bisect/{sha}"
    # Bisection runs at once on a range of three untested commits (counting those running):
    # 3 runs them all; fewer run the ones nearest the middle first, the rest once needed.
    bisect_at_once: int = PARALLEL_BISECT

    def bisect_tag_for(self, sha: str) -> str | None:
        return bisect_tag(self.bisect_tag, sha)


class CulpritStatus(enum.Enum):
    """How sure trunkwatch is of a breakage's culprit."""

    UNKNOWN = "unknown"  # no passing commit bounds the suspects
    SUSPECTED = "suspected"  # the suspects are all it knows; nothing more it can run
    CONFIRMING = "confirming"  # runs that would narrow or confirm it are wanted or running
    CONFIRMED = "confirmed"  # fails at it on two attempts and passes at its parent


RERUN, BISECT = "rerun", "bisect"


@dataclass(frozen=True, slots=True)
class Probe:
    """A run trunkwatch wants, to learn who broke a job.

    RERUN: the failed job `job_id` (or, for a result known only at run level, the failed
    jobs of run `run_id`) again at `sha`. BISECT: the workflow on `sha`, a commit of the
    blamelist where the job did not run (through a tag the repository's workflows run on).
    """

    kind: str  # RERUN or BISECT
    sha: str
    workflow: str
    job: str = ""  # the job's name (RERUN)
    job_id: int = 0
    run_id: int = 0

    @property
    def id(self) -> str:
        """Names the request, for asking it once."""
        if self.kind == BISECT:
            return f"{BISECT}:{self.sha}"
        return f"{RERUN}:{self.sha}:{self.job_id or f'run{self.run_id}'}"


@dataclass(frozen=True, slots=True)
class Evidence:
    """What one job did on one commit: its attempts' conclusions, oldest first."""

    sha: str
    key: JobKey
    conclusions: tuple[str, ...]
    url: str = ""


@dataclass(frozen=True, slots=True)
class Breakage:
    """Failing jobs of an alert whose blamelists overlap: one change broke them.

    `suspects` are the commits in all of their blamelists (in any, when none is in all),
    oldest first; once the culprit is confirmed, the culprit alone. `wanted` are the runs
    that would narrow or confirm it, most useful first (none while results are coming).
    """

    jobs: tuple[JobKey, ...]
    suspects: tuple[str, ...]
    first_failure: str  # the oldest first failure of its jobs
    suspects_known: bool = True
    status: CulpritStatus = CulpritStatus.SUSPECTED
    culprit: str | None = None  # CONFIRMED: the commit; else the single suspect, if one
    evidence: tuple[Evidence, ...] = ()
    wanted: tuple[Probe, ...] = ()


class DecisionKind(enum.Enum):
    OPEN = "open_alert"
    UPDATE = "update_alert"
    CLOSE = "close_alert"


class CloseReason(enum.Enum):
    RECOVERED = "recovered"
    FLAKY = "flaky"
    RESOLVED_BY_USER = "resolved_by_user"


@dataclass(frozen=True, slots=True)
class FailingJob:
    """One job of a broken group, as the alert shows it."""

    key: JobKey
    streak: int
    first_failing_sha: str  # oldest commit of the current streak
    last_passing_sha: str | None  # newest pass before the streak; None when none is known
    latest_failed_url: str  # link to the newest failed job (or run)
    blamelist: tuple[str, ...]  # commits after last pass up to first failure, oldest first
    pending: tuple[str, ...] = ()  # commits of the blamelist where the job is still running


@dataclass(frozen=True, slots=True)
class Decision:
    """What the App should do about one alert.

    `alert` is stable for the alert's life. `at` is the newest trunk commit whose result led
    to the decision; `delivery_id` the delivery that carried that result.
    """

    kind: DecisionKind
    alert: str
    repo: str
    branch: str
    group: str
    jobs: tuple[FailingJob, ...] = ()
    streak: int = 0  # the longest streak among `jobs`
    suspects: tuple[str, ...] = ()  # commit SHAs, oldest first
    suspects_known: bool = True  # False when no passing commit is known to bound them
    last_green: str | None = None
    at: str = ""
    delivery_id: str = ""
    reason: CloseReason | None = None  # CLOSE only
    recovered_by: str | None = None  # CLOSE/RECOVERED: the commit that turned it green
    flaky_reruns: tuple[str, ...] = ()  # CLOSE/FLAKY: job keys whose failures passed on rerun
    changed: tuple[str, ...] = field(default=())  # UPDATE: "jobs", "suspects", "streak",
    # "pending", "provisional", or "last_green" (a missed push inserted commits before it)
    pending: tuple[str, ...] = ()  # suspects whose results are still coming, oldest first
    provisional: bool = False  # suspects may still narrow: do not label them yet
    breakages: tuple[Breakage, ...] = ()  # the jobs by breakage, each with its suspects


@dataclass(frozen=True, slots=True)
class AlertState:
    """An alert as the tracker remembers it between deliveries (persisted by the store)."""

    alert: str
    repo: str
    branch: str
    group: str
    seq: int  # 1, 2, … per (repo, branch, group)
    open: bool
    opened_at: str  # the commit at which it opened
    closed_at: str | None = None  # the newest commit known when it closed
    reason: CloseReason | None = None
    jobs: tuple[FailingJob, ...] = ()
    streak: int = 0
    suspects: tuple[str, ...] = ()
    suspects_known: bool = True
    last_green: str | None = None
    pending: tuple[str, ...] = ()
    provisional: bool = False
    opened_time: float = 0.0  # the tracker's clock when it opened (for `suspects_wait`)
    breakages: tuple[Breakage, ...] = ()


@dataclass(frozen=True, slots=True)
class JobStatus:
    """One job key of a group, as of the newest commit of the branch."""

    key: JobKey
    streak: int
    last_passing_sha: str | None  # the newest commit where it passed
    flakes: int  # (commit, job name) pairs that passed only on a rerun
    latest_url: str  # link to its newest result
    pending: int = 0  # commits where it is still running
    infra: int = 0  # commits where it failed for the runner, not the code


@dataclass(frozen=True, slots=True)
class GroupStatus:
    """A group on a branch, as of its newest commit (for `status` and the status page).

    `last_green` is the newest commit where every job key of the group that has a result
    there passed (and at least one has one). `suspects` are those of the keys whose streak
    is at or over the threshold.
    """

    branch: str
    group: str
    jobs: tuple[JobStatus, ...]
    broken: bool
    last_green: str | None
    suspects: tuple[str, ...] = ()
    suspects_known: bool = True
    open_alert: str | None = None
    breakages: tuple[Breakage, ...] = ()


class GridCell(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    FLAKY = "flaky"  # passed, but only on a rerun
    PENDING = "pending"  # still running
    INFRA = "infra"  # failed for the runner (an outage), not the code
    NONE = "none"  # no result


@dataclass(frozen=True, slots=True)
class GridRow:
    commit: CommitInfo
    cells: tuple[GridCell, ...]  # one per `Grid.keys`


@dataclass(frozen=True, slots=True)
class Grid:
    """The newest commits of a branch (newest first) by a group's job keys."""

    keys: tuple[JobKey, ...]
    rows: tuple[GridRow, ...]
