"""Busy trunks with live arrival: the histories `bench/quality.py` scores the App on.

A trunk of N commits lands in pushes of 1-4 commits every few minutes. Every commit runs
several workflows of sharded suites (~100 jobs): a build, then its tests once the build is
done (a failed build makes its tests `skipped`). Jobs take 15 minutes to 2.5 hours, so the
results of neighbouring commits interleave. Each run is `requested`, `in_progress`, then
`completed`; each job `queued`, then `completed` (with `in_progress` for some); a few
deliveries arrive late. 2% of job attempts fail by chance (some `timed_out`), and most
failed runs are rerun (`rerun-failed-jobs`: attempt 2 of the failed jobs only); some runs
are superseded by the next push and cancelled; runner outages fail the jobs of one runner
type on one commit (some before their first step, some in a step); and real breakages —
a suite, a build, or a few scattered jobs — fail from a culprit commit until its fix,
which lands 1.5 to 6 hours after the culprit's push (its failures take up to 2.5 h to
report, then someone finds it and lands a revert); `fix_commits` makes them short instead.

The ground truth (culprit, fix, jobs) is kept beside the deliveries, which are built in
GitHub's webhook shapes only when they are read (`deliveries()`), in arrival order.

The trunk is live: while its deliveries are read, the App may ask for runs as GitHub would
start them (`rerun_job`, `rerun_failed`, `tag_run`: a rerun of a job, of a run's failed jobs,
or every workflow on a commit through a pushed tag). Their deliveries join the feed in
arrival order, their results follow the same truth. They are kept apart (`injected`) from
the planned history (`events`), on which the truth-side scores are computed, so that those
stay the same whatever the App asked for.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

EPOCH = datetime(2026, 11, 2, tzinfo=UTC)
AUTHORS = ("alice", "bob", "carol", "dmitri", "eve", "farah", "gao", "hana", "ivan", "jo")


@dataclass(frozen=True)
class Suite:
    """One build and its sharded test suites, on one runner type."""

    build: str
    tests: tuple[tuple[str, int], ...]  # (config, shards)
    runner: str

    def jobs(self) -> list[str]:
        names = [f"{self.build} / build"]
        for config, shards in self.tests:
            names += [
                f"{self.build} / test ({config}, {k}, {shards}, {self.runner})"
                for k in range(1, shards + 1)
            ]
        return names


WORKFLOWS: dict[str, tuple[Suite, ...]] = {
    "trunk": (
        Suite("linux-jammy-py3.10-gcc11", (("default", 5), ("distributed", 3)), "linux.4xlarge"),
        Suite("linux-jammy-cuda12.8-py3.10", (("default", 5), ("nogpu", 2)), "linux.g5.4xlarge"),
        Suite("win-vs2022-cpu-py3", (("default", 3),), "windows.4xlarge"),
    ),
    "inductor": (
        Suite(
            "linux-jammy-cuda12.8-sm86",
            (("inductor_torchbench", 4), ("inductor_huggingface", 3), ("inductor_timm", 3)),
            "linux.g5.4xlarge",
        ),
        Suite("linux-jammy-cpu-py3.10", (("inductor_cpu", 6),), "linux.8xlarge"),
    ),
    "rocm": (Suite("linux-jammy-rocm-py3.10", (("default", 6), ("distributed", 2)), "linux.rocm"),),
    "pull": (
        Suite("linux-jammy-py3.10-clang15", (("default", 6), ("crossref", 2)), "linux.2xlarge"),
        Suite("linux-jammy-py3.10-gcc11-debug", (("default", 6),), "linux.2xlarge"),
        Suite("macos-py3-arm64", (("default", 3),), "macos-m1"),
    ),
    "lint": (Suite("lintrunner", (), "linux.2xlarge"),),
}

# The configuration the benchmark scores with: one group per workflow, the defaults else.
CONFIG = """
groups:
  trunk: {workflows: ["trunk"]}
  inductor: {workflows: ["inductor"]}
  rocm: {workflows: ["rocm"]}
  pull: {workflows: ["pull"]}
  lint: {workflows: ["lint"]}
"""


def normalized(job: str) -> str:
    """A job's key as the default rules make it (shard numbers dropped)."""
    head, sep, rest = job.partition(" (")
    if not sep:
        return job
    items = [item.strip() for item in rest.rstrip(")").split(",")]
    if len(items) >= 3 and items[1].isdigit() and items[2].isdigit():
        items = [items[0], *items[3:]]
    return f"{head} ({', '.join(items)})"


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


FAILING = ("failure", "timed_out")


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


class Trunk:
    """One generated trunk: its commits, its truth, and its deliveries in arrival order."""

    def __init__(self, knobs: Knobs, repo: str = "pytorch/pytorch", branch: str = "main") -> None:
        self.knobs, self.repo, self.branch = knobs, repo, branch
        self.rng = random.Random(knobs.seed)
        self.shas = [self._sha("commit", i) for i in range(knobs.commits)]
        self.authors = [self.rng.choice(AUTHORS) for _ in range(knobs.commits)]
        self.index = {sha: i for i, sha in enumerate(self.shas)}
        self.pushed_at: list[float] = [0.0] * knobs.commits
        self.pushes: list[list[int]] = []
        self._schedule()
        self.breakages = self._breakages()
        self.outages = self._outages()
        self.events: list[Event] = []  # the planned history, in arrival order
        self.injected: list[Event] = []  # events of the runs asked for while fed
        self.runs: dict[int, RunRecord] = {}
        self.requests: list[Request] = []
        self.now = 0.0  # the minute of the delivery last read
        self._job_ids: dict[int, tuple[int, str]] = {}  # job id → (run id, job name)
        self._by_run: dict[tuple[int, int], list[Event]] | None = None
        self._live: list[list[Event]] = []  # heaps of the feeds being read
        self._n = 0
        self._next_run = 5_000_000 + (knobs.commits + 1) * 10  # after the planned run ids
        self._plan()
        self._planning = False

    # -- truth -----------------------------------------------------------------------------

    def _sha(self, *parts: object) -> str:
        text = "/".join(map(str, (self.repo, self.knobs.seed, *parts)))
        return hashlib.sha1(text.encode()).hexdigest()

    def _breakages(self) -> list[Breakage]:
        k, n = self.knobs, self.knobs.commits
        found: list[Breakage] = []
        # Spread out, and in turn over the workflows: one breakage per group at a time.
        spacing = max(1, (n - 90) // max(1, k.breakages))
        slots = [
            30 + i * spacing + self.rng.randrange(max(1, spacing - 45)) for i in range(k.breakages)
        ]
        kinds = ("suite", "build", "scattered")
        groups = sorted(w for w in k.workflows if w != "lint")
        self.rng.shuffle(groups)
        for number, culprit in enumerate(slots):
            kind = kinds[number % 3]
            workflow = groups[number % len(groups)]
            suite = self.rng.choice(k.workflows[workflow])
            if kind == "suite" and suite.tests:
                config, shards = self.rng.choice(suite.tests)
                jobs = {
                    f"{suite.build} / test ({config}, {s}, {shards}, {suite.runner})"
                    for s in range(1, shards + 1)
                }
            elif kind == "build" or not suite.tests:
                kind, jobs = "build", {f"{suite.build} / build"}
            else:
                every = [j for s in k.workflows[workflow] for j in s.jobs() if "/ build" not in j]
                jobs = set(self.rng.sample(every, min(3, len(every))))
            fix = self._fix(culprit)
            keys = frozenset(f"{workflow} / {normalized(j)}" for j in jobs)
            found.append(Breakage(kind, workflow, culprit, fix, frozenset(jobs), keys))
            if k.overlap and fix - culprit > 20:
                found.append(self._second(found[-1], suite))
        return found

    def _second(self, first: Breakage, suite: Suite) -> Breakage:
        """Another breakage of the same group from a later culprit while `first` is red:
        a test suite of another build (or another suite of the same), disjoint jobs."""
        culprit = self.rng.randint(first.culprit + 10, first.fix - 10)
        others = [s for s in self.knobs.workflows[first.workflow] if s is not suite and s.tests]
        pick = self.rng.choice(others) if others else suite
        config, shards = self.rng.choice(pick.tests)
        jobs = {
            f"{pick.build} / test ({config}, {n}, {shards}, {pick.runner})"
            for n in range(1, shards + 1)
        } - first.jobs
        if first.kind == "build":  # its tests are skipped while its build fails
            jobs = {j for j in jobs if not j.startswith(f"{suite.build} /")}
        keys = frozenset(f"{first.workflow} / {normalized(j)}" for j in jobs)
        return Breakage("suite", first.workflow, culprit, self._fix(culprit), frozenset(jobs), keys)

    def _fix(self, culprit: int) -> int:
        n, k = self.knobs.commits, self.knobs
        if k.fix_commits is not None:
            return min(n, culprit + self.rng.randint(*k.fix_commits))
        when = self.pushed_at[culprit] + self.rng.uniform(*k.fix_minutes)
        later = (i for i in range(culprit + 1, n) if self.pushed_at[i] >= when)
        return next(later, n)

    def _schedule(self) -> None:
        """When each push lands and which commits it holds (its own random stream, so
        that the rest of the plan does not move it)."""
        rng = random.Random(f"{self.knobs.seed}/pushes")
        now, index = 0.0, 0
        low, high = self.knobs.stack
        while index < self.knobs.commits:
            size = min(rng.randint(low, high), self.knobs.commits - index)
            now += rng.expovariate(1 / self.knobs.push_gap_minutes)
            commits = list(range(index, index + size))
            self.pushes.append(commits)
            for i in commits:
                self.pushed_at[i] = now
            index += size

    def _outages(self) -> dict[int, tuple[str, bool]]:
        """commit → (runner type, whether its jobs fail before their first step)."""
        runners = sorted({s.runner for suites in self.knobs.workflows.values() for s in suites})
        picks = self.rng.sample(range(5, self.knobs.commits - 5), self.knobs.outages)
        return {i: (self.rng.choice(runners), self.rng.random() < 0.5) for i in picks}

    def broken(self, index: int, workflow: str, job: str) -> bool:
        return any(
            b.workflow == workflow and job in b.jobs and b.culprit <= index < b.fix
            for b in self.breakages
        )

    # -- the plan of arrivals ----------------------------------------------------------------

    _planning = True

    def _at(self, minutes: float, kind: str, **data: Any) -> None:
        if self.rng.random() < self.knobs.late_rate:
            minutes += self.rng.uniform(10, 60)
        self._n += 1
        event = Event(minutes, self._n, kind, data)
        if self._planning:
            self.events.append(event)
            return
        self.injected.append(event)
        for heap in self._live:
            heapq.heappush(heap, event)
        if self._by_run is not None and kind == "job":
            bisect.insort(self._by_run.setdefault((data["run_id"], data["attempt"]), []), event)

    def _plan(self) -> None:
        for commits in self.pushes:
            now = self.pushed_at[commits[0]]
            self._at(now, "push", commits=commits)
            for i in commits:
                if self.knobs.last_commit_only and i != commits[-1]:
                    continue
                for number, workflow in enumerate(sorted(self.knobs.workflows)):
                    self._run(i, number, workflow, now + 0.1)
        self.events.sort()

    def _run(self, index: int, number: int, workflow: str, start: float) -> None:
        run_id = 5_000_000 + index * 10 + number
        record = self.runs[run_id] = RunRecord(index, workflow, self.branch)
        superseded = self.rng.random() < self.knobs.supersede_rate
        attempt = 1
        retry: list[str] | None = None
        while True:
            done, end = self._attempt(
                run_id, record, attempt, start, retry, superseded and attempt == 1, None
            )
            failed_jobs = [n for n, (_, c) in done.jobs.items() if c in FAILING]
            if not failed_jobs or attempt == 2 or self.rng.random() >= self.knobs.rerun_rate:
                return
            attempt, start, retry = 2, end + self.rng.uniform(5, 30), failed_jobs

    def _attempt(
        self,
        run_id: int,
        record: RunRecord,
        attempt: int,
        start: float,
        only: list[str] | None,
        superseded: bool,
        prior: dict[str, str] | None,
    ) -> tuple[Attempt, float]:
        """Plan one attempt of a run: its run and job deliveries; (it, when its last job
        ends). `prior` (the latest results of the run's jobs) marks a run asked for while
        fed: its conclusion counts the jobs not rerun, and any attempt may fail by chance."""
        index, workflow = record.index, record.workflow
        common = {"index": index, "run_id": run_id, "workflow": workflow, "attempt": attempt}
        if record.branch != self.branch:
            common["branch"] = record.branch
        for status, delay in (("requested", 0.0), ("in_progress", 0.5)):
            self._at(start + delay, "run", **common, status=status, conclusion=None, start=start)
        jobs: dict[str, tuple[int, str]] = {}
        end, cancelled = self._jobs(common, start, only, superseded, prior, jobs)
        failed = any(c in FAILING for _, c in jobs.values())
        if prior is not None:
            latest = prior | {name: c for name, (_, c) in jobs.items()}
            failed = any(c in FAILING for c in latest.values())
        conclusion = "cancelled" if cancelled else ("failure" if failed else "success")
        self._at(end + 0.2, "run", **common, status="completed", conclusion=conclusion,
                 start=start, end=end + 0.2)  # fmt: skip
        done = Attempt(attempt, start, end + 0.2, jobs, start)
        record.attempts.append(done)
        for name, (job_id, _) in jobs.items():
            self._job_ids[job_id] = (run_id, name)
        return done, end

    def _jobs(
        self,
        common: dict[str, Any],
        start: float,
        only: list[str] | None,
        superseded: bool,
        prior: dict[str, str] | None,
        jobs: dict[str, tuple[int, str]],
    ) -> tuple[float, bool]:
        """Plan one attempt's jobs into `jobs`; (when the last ends, cancelled?)."""
        index, run_id, workflow = common["index"], common["run_id"], common["workflow"]
        attempt, live = common["attempt"], prior is not None
        end = start + 1
        cut = start + self.rng.uniform(5, 20) if superseded else None
        # An outage hit the commit's runs when it was pushed, not the runs asked for later.
        outage = None if live and attempt == 1 else self.outages.get(index)
        for suite in self.knobs.workflows[workflow]:
            build = f"{suite.build} / build"
            names = suite.jobs()
            build_done = start + self.rng.uniform(15, 40)
            build_conclusion = "success" if prior is None else prior.get(build, "success")
            rerun = only is not None and build in only  # a rebuilt suite retests too
            for name in names:
                if only is not None and name not in only and not rerun:
                    continue
                is_build = name == build
                waits = is_build or (live and only is not None and not rerun)
                began = start if waits else build_done
                finish = build_done if is_build else began + self.rng.uniform(15, 150)
                steps_fail = True
                if not is_build and build_conclusion != "success":
                    conclusion = "skipped"
                    finish = began
                elif cut is not None and finish > cut:
                    conclusion, finish = "cancelled", max(began, cut)
                elif outage is not None and outage[0] == suite.runner and attempt == 1:
                    conclusion, steps_fail = "failure", not outage[1]
                elif self.broken(index, workflow, name):
                    conclusion = "failure"
                elif self.rng.random() < self.knobs.flake_rate and (attempt == 1 or live):
                    conclusion = "timed_out" if self.rng.random() < 0.3 else "failure"
                else:
                    conclusion = "success"
                if is_build:
                    build_conclusion = conclusion
                job_id = int(self._sha("job", run_id, attempt, name)[:12], 16)
                jobs[name] = (job_id, conclusion)
                self._at(began, "job", **common, name=name, job_id=job_id, status="queued",
                         runner=suite.runner, start=began)  # fmt: skip
                if self.rng.random() < 0.1:
                    self._at(began + 1, "job", **common, name=name, job_id=job_id,
                             status="in_progress", runner=suite.runner, start=began)  # fmt: skip
                self._at(finish, "job", **common, name=name, job_id=job_id, status="completed",
                         conclusion=conclusion, runner=suite.runner, start=began, end=finish,
                         steps_fail=steps_fail)  # fmt: skip
                end = max(end, finish)
        return end, cut is not None and end >= cut

    # -- runs asked for while fed ------------------------------------------------------------

    def rerun_job(self, job_id: int, minute: float) -> bool:
        """Rerun one job (a build with its suite's tests) as a new attempt of its run."""
        run_id, name = self._job_ids.get(job_id, (0, ""))
        record = self.runs.get(run_id)
        ok, covered = self._rerun(run_id, record, [name], minute) if record else (False, False)
        self._log("rerun_job", record, minute, ok, covered, name)
        return ok

    def rerun_failed(self, run_id: int, minute: float) -> bool:
        """Rerun the failed jobs of a run's latest attempt, as a new attempt."""
        record = self.runs.get(run_id)
        failed = [n for n, c in record.conclusions().items() if c in FAILING] if record else []
        ok, covered = (
            self._rerun(run_id, record, failed, minute) if record and failed else (False, False)
        )
        self._log("rerun_failed", record, minute, ok, covered, "")
        return ok

    def _log(
        self, kind: str, record: RunRecord | None, minute: float, ok: bool, covered: bool, job: str
    ) -> None:
        sha, workflow = (self.shas[record.index], record.workflow) if record else ("", "")
        self.requests.append(Request(kind, sha, minute, ok, workflow, job, covered=covered))

    def _rerun(
        self, run_id: int, record: RunRecord, names: list[str], minute: float
    ) -> tuple[bool, bool]:
        """(accepted, covered by a rerun already requested). GitHub refuses to rerun a run
        that is running; a rerun someone will request later (planned) is taken as already
        requested, and stands for this one when it reruns these jobs."""
        if any(a.requested <= minute < a.done for a in record.attempts):
            return False, False
        ahead = [a for a in record.attempts if a.requested > minute]
        if ahead:
            return all(n in ahead[0].jobs for n in names), True
        prior = record.conclusions()
        number = record.attempts[-1].number + 1
        start = minute + self.rng.uniform(1, 5)  # waiting for a runner
        attempt, _ = self._attempt(run_id, record, number, start, names, False, prior)
        attempt.requested = minute
        return True, False

    def tag_run(self, sha: str, tag: str, minute: float) -> bool:
        """Run every workflow on a commit, as a push of `tag` there starts them."""
        index = self.index.get(sha)
        started: list[int] = []
        if index is not None:
            for number, workflow in enumerate(sorted(self.knobs.workflows)):
                run_id = self._next_run + number
                record = self.runs[run_id] = RunRecord(index, workflow, tag)
                self._attempt(run_id, record, 1, minute + 0.1, None, False, {})
                started.append(run_id)
            self._next_run += 10
        self.requests.append(
            Request("tag", sha, minute, index is not None, tag=tag, run_ids=tuple(started))
        )
        return index is not None

    # -- deliveries ------------------------------------------------------------------------

    def deliveries(self) -> Iterator[tuple[float, dict[str, Any]]]:
        """(arrival minute, `{"event", "delivery_id", "payload"}`) in arrival order, with
        those of the runs asked for while reading (`rerun_job`, `rerun_failed`, `tag_run`)."""
        heap = [*self.events, *self.injected]
        heapq.heapify(heap)
        self._live.append(heap)
        try:
            while heap:
                event = heapq.heappop(heap)
                if event.kind == "job" and not self.knobs.workflow_jobs:
                    continue
                if (
                    event.data.get("status", "completed") != "completed"
                    and not self.knobs.announcements
                ):
                    continue
                self.now = event.at
                yield event.at, self._delivery(event)
        finally:
            self._live.remove(heap)

    def _delivery(self, event: Event) -> dict[str, Any]:
        d = event.data
        if event.kind == "push":
            return {
                "event": "push",
                "delivery_id": f"push-{event.order}",
                "payload": self._push(d["commits"]),
            }
        if event.kind == "run":
            return {
                "event": "workflow_run",
                "delivery_id": f"run-{event.order}",
                "payload": self._run_payload(d),
            }
        return {
            "event": "workflow_job",
            "delivery_id": f"job-{event.order}",
            "payload": self._job_payload(d),
        }

    def time(self, minutes: float) -> str:
        return (EPOCH + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def message(self, index: int) -> str:
        return f"Change number {index} of the trunk (#{100_000 + index})"

    def _repository(self) -> dict[str, Any]:
        owner, name = self.repo.split("/")
        return {
            "id": 65600975,
            "name": name,
            "full_name": self.repo,
            "private": False,
            "owner": {"login": owner, "id": 21003710, "type": "Organization"},
            "html_url": f"https://github.com/{self.repo}",
            "default_branch": self.branch,
        }

    def _push(self, commits: list[int]) -> dict[str, Any]:
        first = commits[0]
        before = self.shas[first - 1] if first else "0" * 40
        items = [
            {
                "id": self.shas[i],
                "message": self.message(i),
                "timestamp": self.time(self.pushed_at[i]),
                "url": f"https://github.com/{self.repo}/commit/{self.shas[i]}",
                "author": {"name": self.authors[i], "username": self.authors[i]},
                "added": [],
                "removed": [],
                "modified": ["torch/_inductor/scheduler.py"],
            }
            for i in commits
        ]
        return {
            "ref": f"refs/heads/{self.branch}",
            "before": before,
            "after": self.shas[commits[-1]],
            "created": False,
            "deleted": False,
            "forced": False,
            "commits": items,
            "head_commit": items[-1],
            "repository": self._repository(),
            "sender": {"login": "pytorchmergebot", "type": "User"},
            "installation": {"id": 4242},
        }

    def _run_payload(self, d: dict[str, Any]) -> dict[str, Any]:
        completed = d["status"] == "completed"
        action = "requested" if d["status"] == "requested" else d["status"]
        api = f"https://api.github.com/repos/{self.repo}/actions/runs/{d['run_id']}"
        return {
            "action": action,
            "workflow_run": {
                "id": d["run_id"],
                "name": d["workflow"],
                "head_branch": d.get("branch", self.branch),
                "head_sha": self.shas[d["index"]],
                "event": "push",
                "status": "queued" if action == "requested" else d["status"],
                "conclusion": d["conclusion"] if completed else None,
                "run_attempt": d["attempt"],
                "run_started_at": self.time(d["start"]),
                "created_at": self.time(d["start"]),
                "updated_at": self.time(d.get("end", d["start"])),
                "html_url": f"https://github.com/{self.repo}/actions/runs/{d['run_id']}",
                "jobs_url": f"{api}/jobs",
                "head_repository": {"full_name": self.repo},
            },
            "workflow": {"name": d["workflow"]},
            "repository": self._repository(),
            "sender": {"login": "pytorchmergebot", "type": "User"},
            "installation": {"id": 4242},
        }

    def job(self, d: dict[str, Any]) -> dict[str, Any]:
        """The job object of a `workflow_job` delivery (and of the list-jobs API)."""
        completed = d["status"] == "completed"
        conclusion = d.get("conclusion") if completed else None
        steps: list[dict[str, Any]] = []
        if completed and conclusion not in ("skipped",):
            steps = [{"name": "Set up job", "number": 1, "status": "completed"}]
            if conclusion == "failure" and not d.get("steps_fail", True):
                steps[0]["conclusion"] = "failure"  # the runner never got going
            else:
                steps[0]["conclusion"] = "success"
                steps.append(
                    {"name": "Test", "number": 2, "status": "completed",
                     "conclusion": conclusion if conclusion != "timed_out" else "cancelled"}
                )  # fmt: skip
        return {
            "id": d["job_id"],
            "run_id": d["run_id"],
            "run_attempt": d["attempt"],
            "workflow_name": d["workflow"],
            "head_branch": d.get("branch", self.branch),
            "head_sha": self.shas[d["index"]],
            "html_url": f"https://github.com/{self.repo}/actions/runs/{d['run_id']}/job/{d['job_id']}",
            "status": d["status"],
            "conclusion": conclusion,
            "created_at": self.time(d["start"]),
            "started_at": self.time(d["start"]),
            "completed_at": self.time(d["end"]) if completed else None,
            "name": d["name"],
            "steps": steps,
            "labels": [d["runner"]],
            "runner_name": f"i-{d['job_id'] % 100000:05d}" if d["status"] != "queued" else None,
        }

    def _job_payload(self, d: dict[str, Any]) -> dict[str, Any]:
        return {
            "action": d["status"],
            "workflow_job": self.job(d),
            "repository": self._repository(),
            "sender": {"login": "pytorchmergebot", "type": "User"},
            "installation": {"id": 4242},
        }

    def run_jobs(self, run_id: int, attempt: int, until: float) -> list[dict[str, Any]]:
        """The list-jobs answer for a run attempt as of minute `until` (what the API shows)."""
        if self._by_run is None:
            self._by_run = {}
            for event in sorted([*self.events, *self.injected]):  # in arrival order
                if event.kind == "job":
                    d = event.data
                    self._by_run.setdefault((d["run_id"], d["attempt"]), []).append(event)
        latest: dict[int, Event] = {}
        for event in self._by_run.get((run_id, attempt), ()):
            if event.at <= until:
                latest[event.data["job_id"]] = event
        return [self.job(e.data) for e in latest.values()]
