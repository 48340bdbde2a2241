"""The generated trunk: its plan of arrivals, the runs asked of it while fed, its deliveries."""

from __future__ import annotations

import bisect
import hashlib
import heapq
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bot.sim.trunksim import truth
from bot.sim.trunksim.model import FAILING, Attempt, Event, Knobs, Request, RunRecord
from bot.sim.trunksim.payloads import Payloads

AUTHORS = ("alice", "bob", "carol", "dmitri", "eve", "farah", "gao", "hana", "ivan", "jo")


class Trunk:
    """One generated trunk: its commits, its truth, and its deliveries in arrival order."""

    def __init__(self, knobs: Knobs, repo: str = "pytorch/pytorch", branch: str = "main") -> None:
        self.knobs, self.repo, self.branch = knobs, repo, branch
        self.rng = random.Random(knobs.seed)
        self.shas = [self._sha("commit", i) for i in range(knobs.commits)]
        self.authors = [self.rng.choice(AUTHORS) for _ in range(knobs.commits)]
        self.index = {sha: i for i, sha in enumerate(self.shas)}
        self.pushes, self.pushed_at = truth.schedule(knobs)
        self.breakages = truth.breakages(knobs, self.rng, self.pushed_at)
        self.outages = truth.outages(knobs, self.rng)
        self.payloads = Payloads(repo, branch, self.shas, self.authors, self.pushed_at)
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
                # A rerun of jobs whose build is not rerun starts at once: GitHub queues the
                # failed jobs of "re-run failed jobs" right away (their build passed before).
                at_once = is_build or (only is not None and not rerun)
                began = start if at_once else build_done
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
        with self._drawing(record, f"attempt {number}"):
            start = minute + self.rng.uniform(1, 5)  # waiting for a runner
            attempt, _ = self._attempt(run_id, record, number, start, names, False, prior)
        attempt.requested = minute
        return True, False

    @contextmanager
    def _drawing(self, record: RunRecord, what: str) -> Iterator[None]:
        """Draw a run asked for while fed from its own random stream, named by its commit,
        workflow, ref and attempt: what it does (chance failures, durations) does not
        depend on which other runs were asked before it, so two versions of the App fed
        the same trunk differ by what they ask, not by draws shifted along one stream."""
        shared = self.rng
        name = (self.knobs.seed, record.index, record.workflow, record.branch, what)
        self.rng = random.Random("/".join(map(str, name)))
        try:
            yield
        finally:
            self.rng = shared

    def tag_run(self, sha: str, tag: str, minute: float) -> bool:
        """Run every workflow on a commit, as a push of `tag` there starts them."""
        index = self.index.get(sha)
        started: list[int] = []
        if index is not None:
            for number, workflow in enumerate(sorted(self.knobs.workflows)):
                run_id = self._next_run + number
                again = sum(r.index == index and r.branch == tag for r in self.runs.values())
                record = self.runs[run_id] = RunRecord(index, workflow, tag)
                with self._drawing(record, f"run {again // len(self.knobs.workflows)}"):
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
                yield event.at, self.payloads.delivery(event)
        finally:
            self._live.remove(heap)

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
        return [self.payloads.job(e.data) for e in latest.values()]
