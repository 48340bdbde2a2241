"""One job key's results along the trunk, and the streaks they make.

A streak is the number of consecutive failing commits among those with a result for the key
(commits without one, and infrastructure failures, are skipped). A pending commit between
two failures stops the count: the failures after it start a new streak, while the streak
as of the pending commit (and of any later commit up to the next result) is that of the
failure before it, so pending commits newer than the newest failure block nothing.

A *run* is a streak that reached the threshold: it starts at its first failure, *reaches*
the threshold, *ends* at the next pass, and *recovers* at its `recovery_passes`-th pass. A
new run of the same key before that supersedes it.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass

from bot.tracker.results import Verdict


@dataclass(slots=True)
class Run:
    """Positions (in the key's own timeline) of one streak that reached the threshold."""

    first: int
    reach: int
    end: int | None = None
    recover: int | None = None


ON, OFF, RECOVERED = 0, 1, 2  # event kinds: reached the threshold, passed, recovered


class KeyLine:
    """The results of one job key in trunk order, with each position's streak."""

    __slots__ = (
        "count",
        "first",
        "idx",
        "passes",
        "recovery_passes",
        "runs",
        "streak",
        "threshold",
        "verdicts",
    )

    def __init__(self, threshold: int, recovery_passes: int) -> None:
        self.threshold = max(1, threshold)
        self.recovery_passes = max(1, recovery_passes)
        self.idx: list[int] = []  # commit indices with a result, ascending
        self.verdicts: list[Verdict] = []
        self.streak: list[int] = []  # streak as of each position
        self.count: list[int] = []  # failures joined by no pass or pending, up to here
        self.first: list[int] = []  # position of the first of those failures, -1 without
        self.passes: list[int] = []  # passes since the active run reached, -1 without one
        self.runs: list[Run] = []

    def position(self, index: int) -> int:
        """The last position at or before commit `index`; -1 when there is none."""
        return bisect_right(self.idx, index) - 1

    def verdict_at(self, index: int) -> Verdict | None:
        pos = bisect_left(self.idx, index)
        if pos < len(self.idx) and self.idx[pos] == index:
            return self.verdicts[pos]
        return None

    def streak_at(self, index: int) -> int:
        pos = self.position(index)
        return self.streak[pos] if pos >= 0 else 0

    def set(self, index: int, verdict: Verdict | None) -> bool:
        """Set (or clear) the key's verdict on a commit; recompute what follows. True if changed."""
        pos = bisect_left(self.idx, index)
        present = pos < len(self.idx) and self.idx[pos] == index
        if present:
            if verdict == self.verdicts[pos]:
                return False
            if verdict is None:
                for column in self._columns():
                    del column[pos]
            else:
                self.verdicts[pos] = verdict
        elif verdict is None:
            return False
        else:
            self.idx.insert(pos, index)
            self.verdicts.insert(pos, verdict)
            for column in (self.streak, self.count, self.first, self.passes):
                column.insert(pos, 0)
        self.recompute(pos)
        return True

    def _columns(self) -> tuple[list[int] | list[Verdict], ...]:
        return (self.idx, self.verdicts, self.streak, self.count, self.first, self.passes)

    def truncate(self, index: int) -> None:
        """Forget every position at or after commit `index` (the order changed there)."""
        pos = bisect_left(self.idx, index)
        for column in self._columns():
            del column[pos:]
        self._trim_runs(pos)

    def append(self, index: int, verdict: Verdict) -> None:
        """Add a verdict past the end without recomputing (call `recompute` after)."""
        self.idx.append(index)
        self.verdicts.append(verdict)
        for column in (self.streak, self.count, self.first, self.passes):
            column.append(0)

    def _trim_runs(self, pos: int) -> None:
        runs = self.runs
        while runs and runs[-1].reach >= pos:
            runs.pop()
        for run in reversed(runs):
            if run.end is not None and run.end < pos and (run.recover is None or run.recover < pos):
                break
            if run.end is not None and run.end >= pos:
                run.end = None
            if run.recover is not None and run.recover >= pos:
                run.recover = None

    def recompute(self, pos: int) -> None:
        """Recompute streaks and runs from position `pos` on."""
        self._trim_runs(pos)
        streak = self.streak[pos - 1] if pos > 0 else 0
        count = self.count[pos - 1] if pos > 0 else 0
        first = self.first[pos - 1] if pos > 0 else -1
        passes = self.passes[pos - 1] if pos > 0 else -1
        active = self.runs[-1] if passes >= 0 and self.runs else None
        threshold, needed = self.threshold, self.recovery_passes
        for p in range(pos, len(self.idx)):
            verdict = self.verdicts[p]
            if verdict.failed:
                if count == 0:
                    first = p
                count += 1
                streak = count
                if count == threshold:
                    active = Run(first=first, reach=p)
                    self.runs.append(active)
                    passes = 0
            elif verdict.pending:
                count, first = 0, -1
            elif not verdict.infra:
                if active is not None:
                    if active.end is None:
                        active.end = p
                    passes += 1
                    if passes >= needed:
                        active.recover = p
                        active = None
                        passes = -1
                streak, count, first = 0, 0, -1
            self.streak[p] = streak
            self.count[p] = count
            self.first[p] = first
            self.passes[p] = passes

    def events(self, from_index: int) -> Iterator[tuple[int, int]]:
        """(commit index, kind) of the run events at or after commit `from_index`."""
        idx = self.idx
        start = len(self.runs)
        while start > 0:
            run = self.runs[start - 1]
            last = max(p for p in (run.reach, run.end, run.recover) if p is not None)
            if idx[last] < from_index:
                break
            start -= 1
        for run in self.runs[start:]:
            for kind, p in ((ON, run.reach), (OFF, run.end), (RECOVERED, run.recover)):
                if p is not None and idx[p] >= from_index:
                    yield idx[p], kind

    def run_at(self, index: int) -> Run | None:
        """The newest run that reached the threshold at or before commit `index`."""
        pos = self.position(index)
        for run in reversed(self.runs):
            if run.reach <= pos:
                return run
        return None

    def first_pass_from(self, index: int) -> int | None:
        """The first commit index at or after `index` where the key passed."""
        for p in range(bisect_left(self.idx, index), len(self.idx)):
            if self.verdicts[p].passed:
                return self.idx[p]
        return None

    def last_pass_before(self, pos: int) -> int | None:
        """The position of the last pass before position `pos`; None when there is none."""
        for p in range(pos - 1, -1, -1):
            if self.verdicts[p].passed:
                return p
        return None

    def decided_from(self, index: int) -> int | None:
        """The first commit at or after `index` where the key failed or passed."""
        for p in range(bisect_left(self.idx, index), len(self.idx)):
            if self.verdicts[p].failed or self.verdicts[p].passed:
                return self.idx[p]
        return None

    def goes_on_from(self, index: int) -> bool:
        """Whether the streak before commit `index` goes on from it: the key fails there or
        later before it next passes, or nothing is known after it (not even a pending
        result, which is waited for)."""
        decided = self.decided_from(index)
        if decided is not None:
            return self.verdicts[self.position(decided)].failed
        return not any(v.pending for v in self.verdicts[bisect_left(self.idx, index) :])

    def first_failure_from(self, pos: int) -> int:
        """The position of the first failure at or after position `pos` (there is one)."""
        return next(p for p in range(pos, len(self.idx)) if self.verdicts[p].failed)

    def latest_failed(self, index: int) -> Verdict | None:
        for p in range(self.position(index), -1, -1):
            if self.verdicts[p].failed:
                return self.verdicts[p]
        return None
