"""What the results on one commit say about each job key: PASS, FAIL, PENDING or NONE.

Results are grouped by (workflow, exact job name); the latest attempt of each wins, ordered
by (run_id, run_attempt, job_id). A completed attempt replaces the pending announcement of
the same attempt whatever order they arrive in; a pending attempt older than the pending
timeout is ignored (as if never announced).

A job name's state: a newer run attempt than its own decides when there is one (green:
PASS; still running: PENDING, a rerun was requested, but not for a job that passed when
that attempt has announced jobs of its own: GitHub's "re-run failed jobs" leaves the passed
ones alone), else its own latest attempt (pending:
PENDING; `success`: PASS; `failure`/`timed_out`: FAIL, or INFRA when it failed before its
first step ran; anything else: NONE). The latest attempt of each run counts: while a newer
run of the workflow on the commit runs (a bisect tag asked again for a second attempt), a
failure of the run before it still fails the job, as one shard's failure does while other
shards run (a newer attempt of the same run, a rerun, hides it until it reports).

A job key (shards merged): any FAIL fails the commit; else any PENDING makes it PENDING;
else it passes once every shard of the suite known on the branch has passed, or once the
run is over (a shard that did not run says nothing); while the run still runs, PENDING;
else NONE. A key without job names on the commit follows its workflow's latest run: green
passes it, running makes it PENDING. The workflow-level key (job "") counts only runs
without job-level results.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from bot.tracker.jobkeys import shard_of
from bot.tracker.model import JobResult, Outcome, outcome_of

Identity = tuple[int, int, int]  # (run_id, run_attempt, job_id): later sorts higher
OUTAGE_MIN_JOBS = 3  # jobs of one runner type on one commit before "most of them" means much


def identity(result: JobResult) -> Identity:
    return (result.run_id, result.run_attempt, result.job_id)


def seconds(timestamp: str) -> float | None:
    """Seconds since the epoch of an ISO 8601 time as GitHub writes it; None if unreadable."""
    if not timestamp:
        return None
    try:
        return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def fact_time(result: JobResult) -> float | None:
    """When the result happened: completion, or the pending attempt's start."""
    return seconds(result.started_at if result.pending else result.completed_at)


def _rank(result: JobResult) -> tuple[int, str, str, str, str]:
    """Which of two copies of one attempt to keep, whatever order they arrived in: a
    completion over its announcement, then a fixed order of the rest."""
    return (
        0 if result.pending else 1,
        result.delivery_id,
        result.conclusion or "",
        result.url,
        result.completed_at,
    )


def _conclusions(attempts: dict[Identity, JobResult]) -> tuple[str, ...]:
    return tuple(
        "infra" if r.infra else (r.conclusion or "")
        for _, r in sorted(attempts.items())
        if not r.pending
    )


def _code_failure(result: JobResult) -> bool:
    return not result.pending and not result.infra and outcome_of(result.conclusion) is Outcome.FAIL


def _standing(
    attempts: dict[Identity, JobResult], latest: JobResult, expired: float = float("-inf")
) -> JobResult:
    """The attempt a job name's state is read from: its latest; but while that one runs in a
    newer run of the workflow, the latest attempt of the run before it, when that failed."""
    if not latest.pending:
        return latest
    before = [
        ident
        for ident, r in attempts.items()
        if ident[0] < latest.run_id and not (r.pending and (fact_time(r) or 0.0) < expired)
    ]
    if not before:
        return latest
    prior = attempts[max(before)]
    return prior if _code_failure(prior) else latest


def failed_attempts(conclusions: Iterable[str]) -> int:
    """How many of these attempts failed (for the code, not the runner)."""
    return sum(1 for c in conclusions if outcome_of(c) is Outcome.FAIL)


def _all_shards(names: Iterable[str], known: frozenset[tuple[int, int]]) -> bool:
    """Whether these passing names cover each known shard of the suites they belong to."""
    passed = {shard for shard in map(shard_of, names) if shard is not None}
    totals = {total for _, total in passed}
    return all(shard in passed for shard in known if shard[1] in totals)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A job key's state on one commit (NONE is the absence of a verdict).

    `failed` FAIL; `pending` PENDING; `infra` a failure of the runner, not the code (it
    counts for nothing); none of them: PASS.
    """

    failed: bool
    decisive: JobResult  # the entry that decides it (for `delivery_id` and links)
    flakes: int  # exact job names that passed only on a rerun
    failed_url: str  # link to the newest failing entry, "" when the key passed
    pending: bool = False
    infra: bool = False
    runners: frozenset[str] = frozenset()  # runner types of the failing entries
    # The conclusions of every completed attempt of the decisive job name (or run) on the
    # commit, oldest first ("infra" for a runner's failure): the evidence of a culprit. (FAIL:
    # of the failing name that failed most often, which may not be the decisive one.)
    attempts: tuple[str, ...] = ()
    # FAIL: the exact job names that failed, and those that passed (shards of a suite);
    # PENDING: those that passed already.
    failed_names: frozenset[str] = frozenset()
    passed_names: frozenset[str] = frozenset()
    seen: int = 0  # FAIL: how many of the key's job names have a result here (pending too)
    # FAIL: a newer run of the workflow still runs a failing name here (a second attempt)
    running_again: bool = False

    @property
    def passed(self) -> bool:
        return not (self.failed or self.pending or self.infra)

    @property
    def passed_before(self) -> bool:
        """PENDING again after its attempts so far passed: a newer attempt of its run was
        asked for (GitHub's "re-run failed jobs" of other jobs, until that attempt names its
        own, or a rerun of all of them). It most likely passes again."""
        return (
            self.pending
            and self.decisive.run_attempt > 1
            and self.tries == 0
            and any(outcome_of(c) is Outcome.PASS for c in self.attempts)
        )

    @property
    def tries(self) -> int:
        """How many attempts failed (for the code, not the runner)."""
        return failed_attempts(self.attempts)

    def as_infra(self) -> Verdict:
        return Verdict(
            False, self.decisive, self.flakes, self.failed_url, infra=True, attempts=self.attempts
        )


def looks_real(failure: Verdict) -> bool:
    """A failure that looks like a breakage on its own: most of the key's jobs with a result
    on the commit failed, two at least (shards of a suite failing together are no chance);
    or its job failed again on a rerun (two chance failures of one job on one commit are
    rare)."""
    failed = len(failure.failed_names)
    return failure.failed and (failure.tries >= 2 or (failed >= 2 and 2 * failed > failure.seen))


def looks_chance(first: Verdict, above: list[Verdict]) -> bool:
    """A first failure that the breakage above it did not reach: a job that passed there
    failed on the next two commits with a result (`above`). It was chance most likely (or
    another breakage: failing again on a rerun does not make it the culprit of this one)."""
    return (
        len(above) == 2
        and all(v.failed for v in above)
        and bool(first.passed_names & above[0].failed_names & above[1].failed_names)
    )


@dataclass(slots=True)
class CommitResults:
    """Every result received for one commit."""

    jobs: dict[str, dict[str, dict[Identity, JobResult]]] = field(default_factory=dict)
    runs: dict[str, dict[Identity, JobResult]] = field(default_factory=dict)
    # workflow → the (run_id, run_attempt) that announced or reported jobs of their own
    job_attempts: dict[str, set[tuple[int, int]]] = field(default_factory=dict)
    _outages: frozenset[str] | None = None

    def add(self, result: JobResult) -> bool:
        """Keep the result; False when it repeats (or announces) one already kept."""
        if result.job:
            self.job_attempts.setdefault(result.workflow, set()).add(identity(result)[:2])
            attempts = self.jobs.setdefault(result.workflow, {}).setdefault(result.job, {})
        else:
            attempts = self.runs.setdefault(result.workflow, {})
        ident = identity(result)
        known = attempts.get(ident)
        if known is not None and _rank(known) >= _rank(result):
            return False
        attempts[ident] = result
        self._outages = None
        return True

    def ran_before(self, workflow: str, run_id: int) -> bool:
        """Whether an older run of the workflow is known on the commit."""
        older = [ident[0] < run_id for ident in self.runs.get(workflow, ())]
        return any(older) or any(r < run_id for r, _ in self.job_attempts.get(workflow, ()))

    @staticmethod
    def _latest(attempts: dict[Identity, JobResult], expired: float) -> JobResult | None:
        """The latest attempt, skipping pending ones that started before `expired`."""
        for ident in sorted(attempts, reverse=True):
            entry = attempts[ident]
            if entry.pending and (fact_time(entry) or 0.0) < expired:
                continue
            return entry
        return None

    def latest_run(self, workflow: str, expired: float = float("-inf")) -> JobResult | None:
        attempts = self.runs.get(workflow)
        return self._latest(attempts, expired) if attempts else None

    def job_verdict(
        self,
        workflow: str,
        names: Iterable[str],
        shards: frozenset[tuple[int, int]] = frozenset(),
        expired: float = float("-inf"),
    ) -> Verdict | None:
        """The verdict of the job key made of these exact job names of `workflow`.

        `shards`: the (shard, of) pairs known for the key on the branch. `expired`: pending
        attempts that started before this time are ignored.
        """
        by_name = self.jobs.get(workflow, {})
        run = self.latest_run(workflow, expired)
        green = run is not None and not run.pending and outcome_of(run.conclusion) is Outcome.PASS
        failing: list[JobResult] = []
        pending: list[JobResult] = []
        passing: list[JobResult] = []
        infra: list[JobResult] = []
        passed: list[str] = []
        flakes = 0
        heard = False  # of any name, but through announcements that timed out
        seen = 0
        stands = False  # a failure stands while a newer run goes (`_standing`)
        # A newer attempt that names its own jobs reruns those (and passed ones are left).
        own_jobs = run is not None and identity(run)[:2] in self.job_attempts.get(workflow, ())
        for name in names:
            attempts = by_name[name]
            latest = self._latest(attempts, expired)
            if latest is None:
                continue
            heard = True
            seen += 1
            newest, latest = latest, _standing(attempts, latest, expired)
            stands = stands or latest is not newest
            if run is not None and identity(latest)[:2] < identity(run)[:2]:
                kept = (
                    own_jobs
                    and not latest.pending
                    and outcome_of(latest.conclusion) is Outcome.PASS
                )
                # (a newer run, not attempt, leaves the failure of the run before it)
                standing = run.pending and run.run_id > latest.run_id and _code_failure(latest)
                stands = stands or standing
                kept = kept or standing
                if run.pending and not kept:
                    pending.append(run)
                    continue
                if green:
                    passing.append(run)
                    passed.append(name)
                    flakes += any(
                        outcome_of(r.conclusion) is Outcome.FAIL for r in attempts.values()
                    )
                    continue
            if latest.pending:
                pending.append(latest)
                continue
            outcome = outcome_of(latest.conclusion)
            if outcome is Outcome.FAIL:
                (infra if latest.infra else failing).append(latest)
            elif outcome is Outcome.PASS:
                passing.append(latest)
                passed.append(name)
                flakes += any(
                    outcome_of(r.conclusion) is Outcome.FAIL and r is not latest
                    for r in attempts.values()
                )
        if failing:
            worst = max(failing, key=identity)
            runners = frozenset(r.runner for r in failing)
            # The attempts of the failing name that failed most often (the newest on a tie):
            # a shard that failed again stays the proof when another shard fails later.
            tried_by = {r.job: _conclusions(by_name[r.job]) for r in failing}
            again = max(failing, key=lambda r: (failed_attempts(tried_by[r.job]), identity(r)))
            tried = tried_by[again.job]
            return Verdict(
                True,
                worst,
                flakes,
                worst.url,
                runners=runners,
                attempts=tried,
                failed_names=frozenset(r.job for r in failing),
                passed_names=frozenset(passed),
                seen=seen,
                running_again=stands,
            )
        if pending:
            # The attempts that came before: a rerun of a failure shows its failures.
            tried = tuple(c for name in names for c in _conclusions(by_name[name]))
            return Verdict(
                False,
                max(pending, key=identity),
                flakes,
                "",
                pending=True,
                attempts=tried,
                passed_names=frozenset(passed),
            )
        if passing:
            if green or not shards or _all_shards(passed, shards):
                best = max(passing, key=identity)
                tried = _conclusions(by_name[best.job]) if best.job in by_name else ()
                return Verdict(False, best, flakes, "", attempts=tried)
            if run is not None and run.pending:
                return Verdict(False, run, flakes, "", pending=True, passed_names=frozenset(passed))
            if run is not None:  # the run is over: the shards that did not report never ran
                return Verdict(False, max(passing, key=identity), flakes, "")
            return None
        if infra:
            worst = max(infra, key=identity)
            tried = _conclusions(by_name[worst.job])
            return Verdict(False, worst, 0, worst.url, infra=True, attempts=tried)
        return None if heard else self.implied(workflow, expired)

    def implied(self, workflow: str, expired: float = float("-inf")) -> Verdict | None:
        """The verdict of a job of `workflow` that has no result of its own here: a green
        run passes it, a running one makes it pending."""
        run = self.latest_run(workflow, expired)
        if run is None:
            return None
        if run.pending:
            return Verdict(False, run, 0, "", pending=True)
        if outcome_of(run.conclusion) is Outcome.PASS:
            return Verdict(False, run, 0, "")
        return None

    def run_verdict(self, workflow: str, expired: float = float("-inf")) -> Verdict | None:
        """The verdict of JobKey(workflow, ""): the latest run attempt, when it says something.

        A run that has job-level results is judged by them instead (unless it is green).
        """
        attempts = self.runs.get(workflow)
        latest = self.latest_run(workflow, expired)
        if attempts is None or latest is None:
            return None
        outcome = outcome_of(latest.conclusion)
        if not latest.pending and outcome is Outcome.PASS:
            flaky = any(
                outcome_of(r.conclusion) is Outcome.FAIL
                for r in attempts.values()
                if r is not latest
            )
            return Verdict(False, latest, int(flaky), "", attempts=_conclusions(attempts))
        if not latest.pending and outcome is Outcome.NONE:
            return None
        names = self.jobs.get(workflow, {})
        if any(ident[0] == latest.run_id for attempts_ in names.values() for ident in attempts_):
            return None
        if latest.pending:
            return Verdict(False, latest, 0, "", pending=True)
        runners, tried = frozenset({latest.runner}), _conclusions(attempts)
        return Verdict(True, latest, 0, latest.url, runners=runners, attempts=tried)

    def outage_runners(self) -> frozenset[str]:
        """Runner types of which most jobs failed here (at least OUTAGE_MIN_JOBS of them ran)."""
        if self._outages is None:
            ran: dict[str, int] = {}
            failed: dict[str, int] = {}
            for names in self.jobs.values():
                for attempts in names.values():
                    latest = _standing(attempts, attempts[max(attempts)])
                    if latest.pending or not latest.runner:
                        continue
                    outcome = outcome_of(latest.conclusion)
                    if outcome is Outcome.NONE:
                        continue
                    ran[latest.runner] = ran.get(latest.runner, 0) + 1
                    if outcome is Outcome.FAIL:
                        failed[latest.runner] = failed.get(latest.runner, 0) + 1
            self._outages = frozenset(
                runner
                for runner, count in ran.items()
                if count >= OUTAGE_MIN_JOBS and 2 * failed.get(runner, 0) > count
            )
        return self._outages
