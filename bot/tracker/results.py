"""What the results on one commit say about each job key.

Results are grouped by (workflow, exact job name); the latest attempt of each wins, ordered
by (run_id, run_attempt, job_id). Per job key (shards merged), any FAIL among the latest
entries fails the commit; else it passes once every shard of the suite that is known on the
branch has passed, so that a key does not pass and then fail on one commit as its shards
finish one by one; else the key has no result there (yet).
A workflow-level result (job "") counts under JobKey(workflow, "") when its run has no
job-level results, and a successful run (latest attempt) passes every job of its workflow
whose own latest attempt is older than that run attempt: a green run means all its jobs
passed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.tracker.jobkeys import shard_of
from bot.tracker.model import JobResult, Outcome, outcome_of

Identity = tuple[int, int, int]  # (run_id, run_attempt, job_id): later sorts higher


def identity(result: JobResult) -> Identity:
    return (result.run_id, result.run_attempt, result.job_id)


def _tiebreak(result: JobResult) -> tuple[str, str, str, str]:
    """Which of two copies of one attempt to keep, whatever order they arrived in."""
    return (result.delivery_id, result.conclusion or "", result.url, result.completed_at)


def _all_shards(names: Iterable[str], known: frozenset[tuple[int, int]]) -> bool:
    """Whether these passing names cover each known shard of the suites they belong to."""
    passed = {shard for shard in map(shard_of, names) if shard is not None}
    totals = {total for _, total in passed}
    return all(shard in passed for shard in known if shard[1] in totals)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A job key's result on one commit."""

    failed: bool
    decisive: JobResult  # the entry that decides it (for `delivery_id` and links)
    flakes: int  # exact job names that passed only on a rerun
    failed_url: str  # link to the newest failing entry, "" when the key passed


@dataclass(slots=True)
class CommitResults:
    """Every result received for one commit."""

    jobs: dict[str, dict[str, dict[Identity, JobResult]]] = field(default_factory=dict)
    runs: dict[str, dict[Identity, JobResult]] = field(default_factory=dict)

    def add(self, result: JobResult) -> bool:
        """Keep the result; False when it repeats one already kept."""
        if result.job:
            attempts = self.jobs.setdefault(result.workflow, {}).setdefault(result.job, {})
        else:
            attempts = self.runs.setdefault(result.workflow, {})
        ident = identity(result)
        known = attempts.get(ident)
        if known is not None and _tiebreak(known) <= _tiebreak(result):
            return False
        attempts[ident] = result
        return True

    def green_run(self, workflow: str) -> JobResult | None:
        """The workflow's latest run attempt when it succeeded."""
        attempts = self.runs.get(workflow)
        if not attempts:
            return None
        latest = attempts[max(attempts)]
        return latest if outcome_of(latest.conclusion) is Outcome.PASS else None

    def job_verdict(
        self, workflow: str, names: Iterable[str], shards: frozenset[tuple[int, int]] = frozenset()
    ) -> Verdict | None:
        """The verdict of the job key made of these exact job names of `workflow`.

        `shards`: the (shard, of) pairs known for the key on the branch; the key passes only
        once each of them (of the suites that reported here) has passed.
        """
        by_name = self.jobs.get(workflow, {})
        green = self.green_run(workflow)
        failing: list[JobResult] = []
        passing: list[JobResult] = []
        passed: list[str] = []
        flakes = 0
        for name in names:
            attempts = by_name[name]
            newest = max(attempts)
            latest = attempts[newest]
            if green is not None and newest[:2] < identity(green)[:2]:
                decisive, outcome = green, Outcome.PASS
                earlier: Iterable[JobResult] = attempts.values()
            else:
                decisive, outcome = latest, outcome_of(latest.conclusion)
                earlier = (r for i, r in attempts.items() if i != newest)
            if outcome is Outcome.FAIL:
                failing.append(decisive)
            elif outcome is Outcome.PASS:
                passing.append(decisive)
                passed.append(name)
                if any(outcome_of(r.conclusion) is Outcome.FAIL for r in earlier):
                    flakes += 1
        if failing:
            worst = max(failing, key=identity)
            return Verdict(True, worst, flakes, worst.url)
        if passing and (green is not None or not shards or _all_shards(passed, shards)):
            return Verdict(False, max(passing, key=identity), flakes, "")
        return None

    def implied_pass(self, workflow: str) -> Verdict | None:
        """A pass for a job of `workflow` that has no result of its own here (green run)."""
        green = self.green_run(workflow)
        return None if green is None else Verdict(False, green, 0, "")

    def run_verdict(self, workflow: str) -> Verdict | None:
        """The verdict of JobKey(workflow, ""): the latest run attempt, when it says something.

        A failed run that has job-level results is judged by them instead.
        """
        attempts = self.runs.get(workflow)
        if not attempts:
            return None
        newest = max(attempts)
        latest = attempts[newest]
        outcome = outcome_of(latest.conclusion)
        if outcome is Outcome.PASS:
            flaky = any(
                outcome_of(r.conclusion) is Outcome.FAIL for i, r in attempts.items() if i != newest
            )
            return Verdict(False, latest, int(flaky), "")
        if outcome is Outcome.NONE:
            return None
        names = self.jobs.get(workflow, {})
        if any(ident[0] == latest.run_id for attempts_ in names.values() for ident in attempts_):
            return None
        return Verdict(True, latest, 0, latest.url)
