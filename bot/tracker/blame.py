"""What an alert says about one group: its failing jobs' blamelists, its breakages and their
suspects, how sure the culprit is, and the runs that would tell (culprit confirmation)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING

from bot.tracker.model import (
    BISECT,
    PARALLEL_BISECT,
    RERUN,
    Breakage,
    CulpritStatus,
    Evidence,
    FailingJob,
    JobKey,
    Probe,
)
from bot.tracker.results import Verdict, identity, looks_chance, looks_real
from bot.tracker.timeline import KeyLine

if TYPE_CHECKING:
    from bot.tracker.group import BranchFacts


@dataclass(frozen=True, slots=True)
class Content:
    """What an alert says about its jobs at one point of the trunk."""

    jobs: tuple[FailingJob, ...]
    suspects: tuple[str, ...]
    suspects_known: bool
    last_green: str | None
    pending: tuple[str, ...] = ()  # blamelist commits still running, in trunk order
    breakages: tuple[Breakage, ...] = ()
    rerunning: bool = False  # one of them runs again after a failure (a confirmation)
    gap: bool = False  # commits of a blamelist are missing (a push not delivered yet)

    @property
    def streak(self) -> int:
        return max((job.streak for job in self.jobs), default=0)


class Blame:
    """The alert's content, read from a `GroupTrack`'s key lines."""

    facts: BranchFacts
    lines: dict[JobKey, KeyLine]

    def content(
        self,
        keys: Iterable[JobKey],
        index: int,
        confirm: bool = False,
        bisect: bool = False,
        confirm_first: bool = False,
        over: bool = False,
        at_once: int = PARALLEL_BISECT,
    ) -> Content:
        """The alert's jobs, breakages, suspects and last green commit as of commit `index`.

        `confirm`, `bisect`, `confirm_first`, `over`, `at_once`: which runs each breakage may
        want, and whether the rerun goes first (see `breakage`).
        """
        order = self.facts.order.order
        jobs: list[FailingJob] = []
        ranges: dict[JobKey, tuple[int, int]] = {}  # each job's blamelist
        firsts: dict[JobKey, int] = {}  # each job's first failure
        pending: set[str] = set()
        rerunning = gap = False
        for key in sorted(keys):
            line = self.lines.get(key)
            run = line.run_at(index) if line is not None else None
            if line is None or run is None:
                continue
            pass_pos = line.last_pass_before(run.first)
            last_pass = None if pass_pos is None else line.idx[pass_pos]
            low = 0 if last_pass is None else last_pass + 1
            # Up to the first failure of the lowest streak that reached the threshold after
            # that pass: fewer failures below a pending commit may be flakes or the breakage's
            # start; until it reports the culprit may be anywhere up to that real streak.
            first_pos = next(r.first for r in line.runs if pass_pos is None or r.first > pass_pos)
            # ... or of a lower row with a failure that looks real on its own.
            for p in range(0 if pass_pos is None else pass_pos + 1, first_pos):
                if line.verdicts[p].failed and looks_real(line.verdicts[p]):
                    first_pos = line.first[p]
                    break
            first = line.idx[first_pos]
            high = reach(line, first_pos)
            # A first failure that looks like chance (`reach`), failed once: the jobs failing
            # above it passed there, so their breakage starts above it (its own failure is
            # chance most likely, or another fault, which its rerun would tell).
            if high > first and line.verdicts[first_pos].tries < 2:
                low = first + 1
            low = above_chance(line, low, first_pos)
            low = above_shards_passed(line, low, first_pos)
            failed = line.latest_failed(index)
            running = [
                p for p in range(bisect_left(line.idx, low), first_pos) if line.verdicts[p].pending
            ]
            waiting = tuple(order[line.idx[p]] for p in running)
            rerunning = rerunning or any(line.verdicts[p].tries for p in running)
            jobs.append(
                FailingJob(
                    key=key,
                    streak=line.streak_at(index),
                    first_failing_sha=order[first],
                    last_passing_sha=None if last_pass is None else order[last_pass],
                    latest_failed_url=failed.failed_url if failed is not None else "",
                    blamelist=tuple(order[low : high + 1]),
                    pending=waiting,
                )
            )
            ranges[key] = (low, high)
            firsts[key] = first
            gap = gap or self.missing(low, high)
            pending.update(waiting)
        index_of = self.facts.order.index
        known = {job.key: job.last_passing_sha is not None for job in jobs}
        breakages = tuple(
            self.breakage(
                {k: ranges[k] for k in part},
                all(known[k] for k in part),
                {k: firsts[k] for k in part},
                confirm,
                bisect,
                confirm_first,
                over,
                at_once,
            )
            for part in overlapping(ranges)
        )
        suspects = sorted({s for b in breakages for s in b.suspects}, key=index_of.__getitem__)
        return Content(
            tuple(jobs),
            tuple(suspects),
            all(known.values()),
            self.last_green([job.key for job in jobs], min(firsts.values(), default=0)),
            tuple(sorted(pending, key=index_of.__getitem__)),
            breakages,
            rerunning,
            gap,
        )

    def missing(self, low: int, high: int) -> bool:
        """Whether commits are missing from the range `low`..`high` (a push not delivered yet:
        the parent of one of them is known only by its sha)."""
        order = self.facts.order
        return any(order.missing_before(i) for i in range(max(low, 1), high + 1))

    # -- culprits ---------------------------------------------------------------------------

    def breakage(
        self,
        ranges: dict[JobKey, tuple[int, int]],
        known: bool,
        firsts: dict[JobKey, int],
        confirm: bool,
        bisect: bool,
        confirm_first: bool = False,
        over: bool = False,
        at_once: int = PARALLEL_BISECT,
    ) -> Breakage:
        """One breakage: its suspects, how sure the culprit is, and the runs that would tell.

        The suspects are the commits in every blamelist (in any when none is in all). The job that
        failed first (`probe key`) is the one the runs are about: BISECT the suspects where it never
        ran (all of them when they are few, or `at_once` of them nearest the middle once none below
        a failure still runs; else the middle one once none is still running), and beside them the
        untested commits above a first failure where job names that fail above it passed (a chance
        failure of one shard, most likely); then RERUN it at its first failure when that failed only
        once (at once with `confirm_first`: the alert waits for it; and at once, with nothing
        bisected, when the breakage is `over`: its alert recovered, and only that rerun can still
        tell it was chance failures; unless a failure below is being rerun, which most likely fails
        again and is the first failure once more). A job whose blamelist starts above its first
        failure (a chance-looking one, `content`) has its breakage's first failure at the top of its
        blamelist, and its chance failure is the one rerun. CONFIRMED: a single suspect, where a job
        of the breakage failed on two attempts, and a job of it passed on the parent (or a shard
        failing at the suspect passed there while another failed once: `shard_passed`).
        """
        order = self.facts.order.order
        bisect = bisect and not over
        low = max(r[0] for r in ranges.values())
        high = min(r[1] for r in ranges.values())
        span = list(range(low, high + 1)) if low <= high else suspect_indices(list(ranges.values()))

        def start(k: JobKey) -> int:  # the first failure of the job's breakage
            return ranges[k][1] if ranges[k][0] > firsts[k] else firsts[k]

        key = min(ranges, key=lambda k: (start(k), k))
        first = start(key)
        line = self.lines[key]
        below = [i for i in span if i < first]
        running = [i for i in below if (v := line.verdict_at(i)) is not None and v.pending]
        # A commit whose pass is being rerun (its run's other jobs, most likely) bounds the
        # range again once it reports: the commits below it are not worth a run meanwhile.
        floor = max((i for i in below if self._passed_before(ranges, i)), default=-1)
        untested = [i for i in below if i > floor and line.verdict_at(i) is None]
        verdict = line.verdict_at(first)
        # (a second run there, through the bisect tag, is a rerun on its way too)
        rerun_pending = verdict is not None and (verdict.pending or verdict.running_again)
        sha = order[firsts[key]]  # (the probe key's own first failure, chance-looking or not)
        tries = verdict.tries if verdict is not None and verdict.failed else 0
        evidence = [self._evidence(first, key)]
        parent_passed = False
        if len(span) == 1 and first > 0:
            for other in sorted(ranges):
                before = self.lines[other].verdict_at(first - 1)
                if before is None:
                    continue
                if before.passed:
                    evidence.append(self._evidence(first - 1, other))
                elif shard := shard_passed(before, self.lines[other].verdict_at(first)):
                    passed = JobKey(other.workflow, shard)
                    evidence.append(Evidence(order[first - 1], passed, ("success",)))
                else:
                    continue
                parent_passed = True
                break
        # A failure below that is being rerun most likely fails again and is the first
        # failure once more: bisecting the commits after it meanwhile would be wasted.
        refailing = any(line.verdicts[line.position(i)].tries for i in running)
        # Commits missing from the range (a push not delivered yet) may hold the culprit:
        # runs on the known ones could spend the budget away from it.
        gap = self.missing(low, first)
        wanted: list[Probe] = []
        picks: list[int] = []
        if bisect and untested and not refailing and not gap:
            # A few untested commits are run at once (a run takes hours; a breakage is often
            # over sooner); more are halved, one run at a time, once nothing else runs.
            # Fewer at once (`at_once`) spends fewer runs, later: those nearest the middle
            # go first, the rest wait until they reported (a commit below one that passes is
            # no suspect, nor one above one that fails: a failure below a pending commit,
            # which the streak does not join yet, bounds the range already).
            if len(untested) <= PARALLEL_BISECT:
                picks = sorted(untested, key=lambda i: (abs(2 * i - low - first), i))
                if at_once < PARALLEL_BISECT:
                    tested = (i for i in below if (v := line.verdict_at(i)) and v.failed)
                    failed = min(tested, default=first)
                    waiting = any(i < failed for i in running)
                    picks = [] if waiting else [i for i in picks if i < failed][:at_once]
            else:
                picks = [] if running else [untested[len(untested) // 2]]
        if bisect and not gap and verdict is not None and tries == 1:
            # A first failure where shards that fail above it passed is most likely chance
            # (the breakage's shards pass there): the culprit is then above it, among the
            # untested commits up to the next failure, which run beside the others.
            above = self._above_partial(line, first, verdict)
            if above and not self.missing(first + 1, max(above)):
                picks += above[: max(PARALLEL_BISECT - len(picks), 0)]
        wanted += [Probe(BISECT, order[i], key.workflow) for i in picks]
        settled = not running and not rerun_pending and not (bisect and untested)
        if confirm_first:  # (the alert is filed once it reports: it does not wait its turn)
            rerunning = any(v.tries for i in running if (v := line.verdict_at(i)) is not None)
            settled = not rerun_pending and not rerunning
        if over:  # (but not past a failure below whose rerun runs: it most likely fails again)
            settled = not rerun_pending and not refailing
        confirmed = len(span) == 1 and tries >= 2 and parent_passed
        # The rerun: at the first failure, or at a chance-looking one below it (the failure
        # above, rerun, would be pending meanwhile and no longer show that the breakage's
        # shards passed below it; once the chance one passes, the one above is rerun).
        again = line.verdict_at(firsts[key])
        once = again if again is not None and again.failed and again.tries == 1 else None
        if settled and confirm and not confirmed and once is not None:
            result = once.decisive
            wanted.append(Probe(RERUN, sha, key.workflow, result.job, result.job_id, result.run_id))
        if confirmed:
            status = CulpritStatus.CONFIRMED
        elif wanted or running or rerun_pending or (gap and bisect and untested):
            status = CulpritStatus.CONFIRMING
        elif not known:
            status = CulpritStatus.UNKNOWN
        else:
            status = CulpritStatus.SUSPECTED
        return Breakage(
            jobs=tuple(sorted(ranges)),
            suspects=tuple(order[i] for i in span),
            first_failure=sha,  # (the probe key's: the earliest first failure)
            suspects_known=known,
            status=status,
            culprit=order[span[0]] if len(span) == 1 else None,
            evidence=tuple(e for e in evidence if e.conclusions),
            wanted=tuple(wanted),
        )

    @staticmethod
    def _above_partial(line: KeyLine, first: int, verdict: Verdict) -> list[int]:
        """The untested commits between a first failure and the key's next failure, nearest
        first, when job names that fail at the next one passed at the first: shards of the
        breakage passed there, so its failure is most likely a chance one."""
        if not verdict.passed_names:
            return []
        for pos in range(line.position(first) + 1, len(line.idx)):
            above = line.verdicts[pos]
            if above.failed:
                if not verdict.passed_names & above.failed_names:
                    return []
                return [i for i in range(first + 1, line.idx[pos]) if line.verdict_at(i) is None]
            if not above.pending:
                return []  # a pass: the breakage is not above it
        return []

    def _passed_before(self, ranges: dict[JobKey, tuple[int, int]], index: int) -> bool:
        """Whether a job of the breakage passed at `index`, within its blamelist, and runs
        there again (`Verdict.passed_before`)."""
        for key, (low, first) in ranges.items():
            verdict = self.lines[key].verdict_at(index) if low <= index < first else None
            if verdict is not None and verdict.passed_before:
                return True
        return False

    def _evidence(self, index: int, key: JobKey) -> Evidence:
        verdict = self.lines[key].verdict_at(index)
        if verdict is None:
            return Evidence(self.facts.order.order[index], key, ())
        url = verdict.failed_url or verdict.decisive.url
        return Evidence(self.facts.order.order[index], key, verdict.attempts, url)

    def last_green(self, keys: list[JobKey], before: int) -> str | None:
        """The newest commit before `before` where each of `keys` with a result passed."""
        lines = [self.lines[key] for key in keys if key in self.lines]
        for index in range(before - 1, -1, -1):
            verdicts = [v for v in (line.verdict_at(index) for line in lines) if v is not None]
            verdicts = [v for v in verdicts if not v.infra]
            if verdicts and all(v.passed for v in verdicts):
                return self.facts.order.order[index]
        return None

    def decisive(
        self, keys: Iterable[JobKey], index: int, failing: bool | None = None
    ) -> tuple[int, str]:
        """The commit and delivery of the result that decided things at commit `index`.

        Among the keys' results on that commit (failing or passing ones, when `failing` says
        which), the latest attempt; when there is none, the newest result before it.
        """
        keys = list(keys)
        if failing is not None:
            exact = [
                k
                for k in keys
                if k in self.lines
                and (v := self.lines[k].verdict_at(index)) is not None
                and (v.failed if failing else v.passed)
            ]
            if exact:
                keys = exact
        best: tuple[int, tuple[int, int, int], str, str, str] | None = None
        for key in keys:
            line = self.lines.get(key)
            pos = line.position(index) if line is not None else -1
            if line is None or pos < 0:
                continue
            result = line.verdicts[pos].decisive
            candidate = (
                line.idx[pos],
                identity(result),
                result.delivery_id,
                result.workflow,
                result.job,
            )
            if best is None or candidate > best:
                best = candidate
        if best is None:
            return index, ""
        return best[0], best[2]

    def pending_in_streak(self, keys: Iterable[JobKey], index: int, top: int) -> bool:
        """Whether any of the keys is pending where its result may join an alert's failures
        into a streak again: on a commit from `index` (the alert's first failure) up to its
        newest failure at or below `top` (where the alert opened), a rerun of one most
        likely, or on the next commit with a result above it and the failures joined to it.
        Commits running higher up block nothing: on a busy trunk some always are, next to
        some chance failure."""
        for key in keys:
            line = self.lines.get(key)
            if line is None:
                continue
            low, high = bisect_left(line.idx, index), bisect_right(line.idx, top)
            verdicts = line.verdicts
            newest = next(
                (p for p in range(high - 1, low - 1, -1)
                 if verdicts[p].failed or (verdicts[p].pending and verdicts[p].tries)),
                None,
            )  # fmt: skip
            if newest is None:
                continue
            above = newest + 1  # (the failures on from it are joined to it: then what)
            while above < len(verdicts) and verdicts[above].failed:
                above += 1
            if any(v.pending for v in verdicts[low : above + 1]):
                return True
        return False

    def latest_index(self, keys: Iterable[JobKey]) -> int:
        return max(
            (self.lines[k].idx[-1] for k in keys if k in self.lines and self.lines[k].idx),
            default=0,
        )


def shard_passed(parent: Verdict, child: Verdict | None) -> str | None:
    """A job name failing at the child that passed at its parent, where the key failed once
    (a chance failure of one shard below a breakage of the others); None when there is none."""
    if child is None or not parent.failed or parent.tries >= 2:
        return None
    return min(parent.passed_names & child.failed_names, default=None)


def reach(line: KeyLine, first: int) -> int:
    """The last commit of a blamelist whose first failure is at position `first`: that
    failure, or the next one when it looks like chance (`looks_chance`): the culprit may be
    that one or a commit between, where the job did not run."""
    above = [p for p in range(first + 1, len(line.idx)) if not line.verdicts[p].infra][:2]
    if looks_chance(line.verdicts[first], [line.verdicts[p] for p in above]):
        return line.idx[above[0]]
    return line.idx[first]


def above_chance(line: KeyLine, low: int, first: int) -> int:
    """Where a blamelist starts, given that it starts at commit `low` at the latest: above a
    lower failure (below a pending commit, before position `first`) that failed once and
    looks like chance (`looks_chance`) next to the two failures above it with a result. The
    breakage's jobs passed there, whatever runs between: a bisect run on a commit between
    would otherwise widen the suspects back down to the last pass."""
    for p in range(first - 1, bisect_left(line.idx, low) - 1, -1):
        verdict = line.verdicts[p]
        if not verdict.failed or verdict.tries >= 2:
            continue
        if looks_chance(verdict, decided(line, p + 1, 2)):
            return line.idx[p] + 1
    return low


def above_shards_passed(line: KeyLine, low: int, first: int) -> int:
    """Where a blamelist starts, given that it starts at commit `low` at the latest: above a
    commit still running (below position `first`) where a job name passed that failed at
    the first failure and at the two failures above it with a result. The breakage fails
    that job from its culprit on, so the culprit is above that commit: the shards still
    running there need not be waited for (a bisect run's shards report over hours)."""
    streak = decided(line, first, 3)
    if len(streak) < 3 or not all(v.failed for v in streak):
        return low
    names = frozenset.intersection(*(v.failed_names for v in streak))
    for p in range(first - 1, bisect_left(line.idx, low) - 1, -1):
        verdict = line.verdicts[p]
        if verdict.pending and verdict.passed_names & names:
            return line.idx[p] + 1
    return low


def decided(line: KeyLine, start: int, count: int) -> list[Verdict]:
    """The first `count` verdicts from position `start` on that have a result (neither
    pending nor a runner's failure), fewer when the line ends first."""
    found: list[Verdict] = []
    for verdict in islice(line.verdicts, start, None):
        if not verdict.infra and not verdict.pending:
            found.append(verdict)
            if len(found) == count:
                break
    return found


def overlapping(ranges: dict[JobKey, tuple[int, int]]) -> list[list[JobKey]]:
    """The keys in groups whose blamelists (inclusive index ranges) overlap, in order."""
    parts: list[list[JobKey]] = []
    reach = -1
    for key in sorted(ranges, key=lambda k: (ranges[k], k)):
        low, high = ranges[key]
        if parts and low <= reach:
            parts[-1].append(key)
            reach = max(reach, high)
        else:
            parts.append([key])
            reach = high
    return parts


def suspect_indices(ranges: list[tuple[int, int]]) -> list[int]:
    """The commits in every blamelist, or in any of them when no commit is in all."""
    if not ranges:
        return []
    low = max(r[0] for r in ranges)
    high = min(r[1] for r in ranges)
    if low <= high:
        return list(range(low, high + 1))
    return sorted({i for r in ranges for i in range(r[0], r[1] + 1)})
