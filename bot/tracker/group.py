"""One group on one branch: its job keys' timelines, and the episodes they make.

An episode opens at the first commit where the group is broken (at least `min_failing_jobs`
keys with a streak of at least `threshold`); while it is open, keys that reach the threshold
join it; it recovers at the first commit where every key that joined has passed
`recovery_passes` times since it last reached the threshold (and the group is not broken).

The walk over the trunk only visits commits where some key's run starts, ends or recovers,
and resumes from a cached snapshot at or before the lowest commit that changed.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.tracker.jobkeys import key_for, rule_matches, shard_of
from bot.tracker.model import (
    BISECT,
    RERUN,
    Breakage,
    CulpritStatus,
    Evidence,
    FailingJob,
    GroupRule,
    JobKey,
    JobResult,
    Probe,
)
from bot.tracker.order import BranchOrder
from bot.tracker.results import CommitResults, Verdict, identity
from bot.tracker.timeline import OFF, ON, RECOVERED, KeyLine

SNAPSHOT_EVERY = 32  # commits between cached walk states
PARALLEL_BISECT = 3  # untested suspects run all at once (a stack of 4 commits pushed together)


@dataclass(slots=True)
class BranchFacts:
    """What one branch knows: its trunk order and every result, placed or not."""

    order: BranchOrder = field(default_factory=BranchOrder)
    results: dict[str, CommitResults] = field(default_factory=dict)
    run_shas: dict[str, set[str]] = field(default_factory=dict)  # workflow → commits with runs
    expired: float = float("-inf")  # pending attempts that started before this are ignored


@dataclass(frozen=True, slots=True)
class Episode:
    opened: int  # commit index where the group broke
    recovered: int | None  # commit index where it recovered; None while open
    opening: frozenset[JobKey]  # keys over the threshold when it opened
    keys: frozenset[JobKey]  # every key that joined


@dataclass(slots=True)
class WalkState:
    index: int  # the next commit index to visit
    on: set[JobKey]  # keys with a streak at or over the threshold
    suppressed: set[JobKey]  # keys of a resolved alert that have not passed since
    open_at: int | None = None
    opening: frozenset[JobKey] = frozenset()
    joined: set[JobKey] = field(default_factory=set)
    unrecovered: set[JobKey] = field(default_factory=set)
    episodes: list[Episode] = field(default_factory=list)  # recovered ones, oldest first

    def copy(self) -> WalkState:
        return WalkState(
            self.index,
            set(self.on),
            set(self.suppressed),
            self.open_at,
            self.opening,
            set(self.joined),
            set(self.unrecovered),
            list(self.episodes),
        )

    def all_episodes(self) -> list[Episode]:
        if self.open_at is None:
            return list(self.episodes)
        current = Episode(self.open_at, None, self.opening, frozenset(self.joined))
        return [*self.episodes, current]


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

    @property
    def streak(self) -> int:
        return max((job.streak for job in self.jobs), default=0)


class GroupTrack:
    """The timelines of one group's job keys on one branch."""

    def __init__(self, rule: GroupRule, recovery_passes: int, facts: BranchFacts) -> None:
        self.rule = rule
        self.recovery_passes = recovery_passes
        self.facts = facts
        self.lines: dict[JobKey, KeyLine] = {}
        self.workflow_keys: dict[str, set[JobKey]] = {}  # job-level keys per workflow
        self._key_of: dict[tuple[str, str], JobKey | None] = {}
        self._names: dict[str, dict[JobKey, list[str]]] = {}  # sha → key → its job names there
        self._shards: dict[JobKey, frozenset[tuple[int, int]]] = {}  # shards seen per key
        self._key_shas: dict[JobKey, set[str]] = {}  # commits where a key has job names
        self._outages: dict[str, frozenset[str]] = {}  # sha → runner types in an outage
        self._buckets: dict[int, list[tuple[int, JobKey]]] = {}
        self._event_indices: list[int] = []
        self._snapshots: list[WalkState] = []
        self._walk_for: tuple[int, frozenset[JobKey]] | None = None
        self._covered: frozenset[JobKey] = frozenset()  # keys of the alert the walk starts after
        self._goes_on: frozenset[JobKey] = frozenset()  # those of them whose streak goes on
        self._final: WalkState | None = None
        self._dirty_from: int | None = 0
        self.changed = True  # something an alert could show changed since the last decision
        self.reindex(0)

    # -- keys and verdicts ------------------------------------------------------------------

    def key_of(self, workflow: str, job: str) -> JobKey | None:
        cached = self._key_of.get((workflow, job), False)
        if cached is not False:
            return cached  # type: ignore[return-value]
        key = key_for(workflow, job, self.rule) if rule_matches(self.rule, workflow, job) else None
        self._key_of[(workflow, job)] = key
        return key

    def verdict(
        self, sha: str, results: CommitResults, key: JobKey, index: int | None = None
    ) -> Verdict | None:
        """The key's state on a commit; `index` (its place) lets an outage be recognized."""
        expired = self.facts.expired
        if not key.job:
            verdict = results.run_verdict(key.workflow, expired)
        else:
            names = self._names.get(sha, {}).get(key)
            if names:
                shards = self._shards.get(key, frozenset())
                verdict = results.job_verdict(key.workflow, names, shards, expired)
            else:
                verdict = results.implied(key.workflow, expired)
        if (
            verdict is not None
            and verdict.failed
            and index is not None
            and verdict.runners <= results.outage_runners()
            and self._passes_next(key, index)
        ):
            return verdict.as_infra()
        return verdict

    def _passes_next(self, key: JobKey, index: int) -> bool:
        """Whether the key passed on the next commit after `index` where it has a result."""
        line = self.lines.get(key)
        if line is None:
            return False
        pos = bisect_right(line.idx, index)
        return pos < len(line.idx) and line.verdicts[pos].passed

    def _refresh_previous(self, key: JobKey, index: int) -> None:
        """The key's result at `index` changed: an outage on its previous commit may now be
        recognized (or no longer be)."""
        line = self.lines[key]
        pos = bisect_left(line.idx, index) - 1
        if pos < 0:
            return
        sha = self.facts.order.order[line.idx[pos]]
        results = self.facts.results[sha]
        if results.outage_runners():
            self._set(key, line.idx[pos], self.verdict(sha, results, key, line.idx[pos]), False)

    def _index_names(self, sha: str, results: CommitResults) -> set[JobKey]:
        """Which job names make up each key on this commit; the keys present there."""
        by_key: dict[JobKey, list[str]] = {}
        for workflow, names in results.jobs.items():
            for name in names:
                key = self.key_of(workflow, name)
                if key is not None:
                    by_key.setdefault(key, []).append(name)
                    self._key_shas.setdefault(key, set()).add(sha)
                    self._learn_shard(key, name)
        if by_key:
            self._names[sha] = by_key
        else:
            self._names.pop(sha, None)
        keys = set(by_key)
        for workflow in results.runs:
            key = self.key_of(workflow, "")
            if key is not None:
                keys.add(key)
        return keys

    def _learn_shard(self, key: JobKey, name: str) -> bool:
        """Remember a shard of a merged key; True when it is new (older verdicts may change)."""
        shard = None if self.rule.split_shards else shard_of(name)
        known = self._shards.get(key, frozenset())
        if shard is None or shard in known:
            return False
        self._shards[key] = known | {shard}
        return True

    def _refresh(self, key: JobKey) -> None:
        """Recompute a key's verdict on every placed commit where it has job names."""
        index_of, results = self.facts.order.index, self.facts.results
        for sha in self._key_shas.get(key, ()):
            index = index_of.get(sha)
            if index is not None:
                self._set(key, index, self.verdict(sha, results[sha], key, index))

    def _new_line(self, key: JobKey) -> KeyLine:
        line = self.lines[key] = KeyLine(self.rule.threshold, self.recovery_passes)
        if key.job:
            self.workflow_keys.setdefault(key.workflow, set()).add(key)
        return line

    # -- changes ----------------------------------------------------------------------------

    def on_result(self, index: int, results: CommitResults, result: JobResult) -> None:
        """A new result on the placed commit `index`."""
        workflow, sha = result.workflow, result.head_sha
        affected: set[JobKey] = set()
        if result.job:
            key = self.key_of(workflow, result.job)
            if key is not None:
                names = self._names.setdefault(sha, {}).setdefault(key, [])
                if result.job not in names:
                    names.append(result.job)
                    self._key_shas.setdefault(key, set()).add(sha)
                if key not in self.lines:
                    self._new_line(key)
                    self._backfill_implied(key)
                if self._learn_shard(key, result.job):
                    self._refresh(key)
                affected.add(key)
            if result.run_attempt > 1:  # a rerun naming its jobs: the others are not rerun
                affected.update(self.workflow_keys.get(workflow, ()))
        else:
            affected.update(self.workflow_keys.get(workflow, ()))
        run_key = self.key_of(workflow, "")
        if run_key is not None:
            if run_key not in self.lines:
                self._new_line(run_key)
            affected.add(run_key)
        outages = results.outage_runners()
        if outages != self._outages.get(sha, frozenset()):
            self._outages[sha] = outages
            affected |= self._keys_on(sha, results)
        for key in sorted(affected):
            self._set(key, index, self.verdict(sha, results, key, index))

    def _keys_on(self, sha: str, results: CommitResults) -> set[JobKey]:
        """The keys that may have a verdict on the commit."""
        keys = set(self._names.get(sha, ()))
        for workflow in results.runs:
            keys.update(self.workflow_keys.get(workflow, ()))
            run_key = self.key_of(workflow, "")
            if run_key is not None and run_key in self.lines:
                keys.add(run_key)
        return keys

    def refresh_commit(self, index: int) -> None:
        """Decide again every key on the placed commit `index` (a pending attempt expired)."""
        sha = self.facts.order.order[index]
        results = self.facts.results.get(sha)
        if results is None:
            return
        for key in sorted(self._keys_on(sha, results)):
            if key in self.lines:
                self._set(key, index, self.verdict(sha, results, key, index))

    def _backfill_implied(self, key: JobKey) -> None:
        """A key seen for the first time passes wherever its workflow's run was green (and is
        pending wherever it still runs)."""
        index_of = self.facts.order.index
        for sha in self.facts.run_shas.get(key.workflow, ()):
            index = index_of.get(sha)
            if index is not None:
                if key in self._names.get(sha, {}):
                    continue
                verdict = self.facts.results[sha].implied(key.workflow, self.facts.expired)
                if verdict is not None:
                    self._set(key, index, verdict)

    def _set(
        self, key: JobKey, index: int, verdict: Verdict | None, neighbours: bool = True
    ) -> None:
        line = self.lines[key]
        old = list(line.events(index))
        if not line.set(index, verdict):
            return
        self.changed = True
        self._dirty(index)
        new = list(line.events(index))
        if old != new:
            for event in old:
                self._unbucket(event[0], (event[1], key))
            for event in new:
                self._bucket(event[0], (event[1], key))
        if neighbours:
            self._refresh_previous(key, index)

    def _bucket(self, index: int, event: tuple[int, JobKey]) -> None:
        bucket = self._buckets.get(index)
        if bucket is None:
            self._buckets[index] = [event]
            insort(self._event_indices, index)
        else:
            bucket.append(event)

    def _unbucket(self, index: int, event: tuple[int, JobKey]) -> None:
        bucket = self._buckets[index]
        bucket.remove(event)
        if not bucket:
            del self._buckets[index]
            del self._event_indices[bisect_left(self._event_indices, index)]

    def _dirty(self, index: int) -> None:
        if self._dirty_from is None or index < self._dirty_from:
            self._dirty_from = index

    def reindex(self, start: int) -> None:
        """The trunk order changed from commit `start` on: re-place every result from there."""
        order, results = self.facts.order.order, self.facts.results
        shards_before = dict(self._shards)
        found: set[JobKey] = set()
        present: dict[int, set[JobKey]] = {}
        for index in range(start, len(order)):
            commit_results = results.get(order[index])
            if commit_results is not None:
                present[index] = self._index_names(order[index], commit_results)
                found |= present[index]
        new = {key for key in found if key not in self.lines}
        for line in self.lines.values():
            line.truncate(start)
        lengths = {key: len(line.idx) for key, line in self.lines.items()}
        for key in new:
            self._new_line(key)
            lengths[key] = 0
        fill_from = 0 if new else start
        for index in range(fill_from, len(order)):
            sha = order[index]
            commit_results = results.get(sha)
            if commit_results is None:
                continue
            keys = set(present[index]) if index in present else set(self._names.get(sha, ()))
            for workflow in commit_results.runs:
                keys.update(self.workflow_keys.get(workflow, ()))
            for key in sorted(keys):
                if index >= start or key in new:
                    verdict = self.verdict(sha, commit_results, key)
                    if verdict is not None:
                        self.lines[key].append(index, verdict)
        for key, line in self.lines.items():
            if lengths[key] < len(line.idx):
                line.recompute(lengths[key])
        cut = bisect_left(self._event_indices, fill_from)
        for index in self._event_indices[cut:]:
            del self._buckets[index]
        del self._event_indices[cut:]
        for key, line in self.lines.items():
            for index, kind in line.events(fill_from):
                self._bucket(index, (kind, key))
        for index in range(fill_from, len(order)):  # outages need the next commit's results
            commit_results = results.get(order[index])
            if commit_results is not None and commit_results.outage_runners():
                self._outages[order[index]] = commit_results.outage_runners()
                self.refresh_commit(index)
        self.changed = True
        self._dirty(fill_from)
        for key, shards in self._shards.items():
            if key not in new and shards != shards_before.get(key, frozenset()):
                self._refresh(key)

    # -- the walk ---------------------------------------------------------------------------

    def walk(
        self, start: int, suppressed: frozenset[JobKey], covered: frozenset[JobKey] = frozenset()
    ) -> WalkState:
        """The episodes from commit `start` on (`suppressed`: keys of a resolved alert;
        `covered`: keys of the alert that recovered at `start`, which go on from it only if
        their streak does: a pass there that turned pending, then a pass, is no new
        breakage)."""
        # (which of them go on depends on their verdicts from `start`: checked each time)
        goes_on = frozenset(
            k
            for k in covered
            if (line := self.lines.get(k)) is not None and line.goes_on_from(start)
        )
        if (self._walk_for, self._covered, self._goes_on) != (
            (start, suppressed),
            covered,
            goes_on,
        ):
            self._walk_for, self._covered, self._goes_on = (start, suppressed), covered, goes_on
            self._snapshots.clear()
            self._final = None
        dirty = self._dirty_from
        self._dirty_from = None
        head = len(self.facts.order.order)
        if self._final is not None and (dirty is None or dirty >= self._final.index):
            state = self._final
        else:
            if dirty is not None:
                keep = bisect_right([s.index for s in self._snapshots], dirty)
                del self._snapshots[keep:]
            state = self._snapshots[-1].copy() if self._snapshots else self._initial(start)
        if state.index >= head and state is self._final:
            return state
        if state is self._final:
            state = state.copy()
        self._final = self._advance(state, start, head)
        return self._final

    def _initial(self, start: int) -> WalkState:
        threshold = self.rule.threshold
        on = {
            k
            for k, line in self.lines.items()
            if start
            and line.streak_at(start - 1) >= threshold
            and (k not in self._covered or k in self._goes_on)
        }
        suppressed = set(self._walk_for[1]) if self._walk_for else set()
        return WalkState(start, on, suppressed)

    def _advance(self, state: WalkState, start: int, head: int) -> WalkState:
        release: dict[int, list[JobKey]] = {}
        for key in state.suppressed:
            line = self.lines.get(key)
            passed = line.first_pass_from(state.index) if line is not None else None
            if passed is not None:
                release.setdefault(passed, []).append(key)
        indices = set(self._event_indices[bisect_left(self._event_indices, state.index) :])
        indices.update(release)
        if state.index == start and start < head:
            indices.add(start)
        minimum = self.rule.min_failing_jobs
        last_snapshot = self._snapshots[-1].index if self._snapshots else -SNAPSHOT_EVERY
        for index in sorted(indices):  # all below `head`: events are on placed commits
            if index - last_snapshot >= SNAPSHOT_EVERY:
                state.index = index
                self._snapshots.append(state.copy())
                last_snapshot = index
            for key in release.get(index, ()):
                state.suppressed.discard(key)
            for kind, key in self._buckets.get(index, ()):
                if kind == ON:
                    state.on.add(key)
                    if state.open_at is not None and key not in state.suppressed:
                        state.joined.add(key)
                        state.unrecovered.add(key)
                elif kind == OFF:
                    state.on.discard(key)
                elif kind == RECOVERED:
                    state.unrecovered.discard(key)
            broken = len(state.on - state.suppressed) >= minimum
            if state.open_at is None:
                if broken:
                    state.open_at = index
                    state.opening = frozenset(state.on - state.suppressed)
                    state.joined = set(state.opening)
                    state.unrecovered = set(state.opening)
            elif not state.unrecovered and not broken:
                state.episodes.append(
                    Episode(state.open_at, index, state.opening, frozenset(state.joined))
                )
                state.open_at, state.opening = None, frozenset()
                state.joined, state.unrecovered = set(), set()
        state.index = head
        return state

    # -- what alerts show -------------------------------------------------------------------

    def content(
        self,
        keys: Iterable[JobKey],
        index: int,
        confirm: bool = False,
        bisect: bool = False,
        confirm_first: bool = False,
    ) -> Content:
        """The alert's jobs, breakages, suspects and last green commit as of commit `index`.

        `confirm`, `bisect`, `confirm_first`: which runs each breakage may want, and whether
        the rerun goes first (see `breakage`).
        """
        order = self.facts.order.order
        jobs: list[FailingJob] = []
        ranges: dict[JobKey, tuple[int, int]] = {}
        pending: set[str] = set()
        rerunning = False
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
            first = line.idx[first_pos]
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
                    blamelist=tuple(order[low : first + 1]),
                    pending=waiting,
                )
            )
            ranges[key] = (low, first)
            pending.update(waiting)
        index_of = self.facts.order.index
        known = {job.key: job.last_passing_sha is not None for job in jobs}
        breakages = tuple(
            self.breakage(
                {k: ranges[k] for k in part},
                all(known[k] for k in part),
                confirm,
                bisect,
                confirm_first,
            )
            for part in overlapping(ranges)
        )
        suspects = sorted({s for b in breakages for s in b.suspects}, key=index_of.__getitem__)
        return Content(
            tuple(jobs),
            tuple(suspects),
            all(known.values()),
            self.last_green(
                [job.key for job in jobs], min((r[1] for r in ranges.values()), default=0)
            ),
            tuple(sorted(pending, key=index_of.__getitem__)),
            breakages,
            rerunning,
        )

    # -- culprits ---------------------------------------------------------------------------

    def breakage(
        self,
        ranges: dict[JobKey, tuple[int, int]],
        known: bool,
        confirm: bool,
        bisect: bool,
        confirm_first: bool = False,
    ) -> Breakage:
        """One breakage: its suspects, how sure the culprit is, and the runs that would tell.

        The suspects are the commits in every blamelist (in any when none is in all). The
        job that failed first (`probe key`) is the one the runs are about: BISECT the
        suspects where it never ran (all of them when they are few, else the middle one
        once none is still running); then RERUN it at its first failure when that failed
        only once (at once with `confirm_first`: the alert waits for it). CONFIRMED: a
        single suspect, where a job of the breakage failed on two attempts, and a job of it
        passed on the parent.
        """
        order = self.facts.order.order
        low = max(r[0] for r in ranges.values())
        high = min(r[1] for r in ranges.values())
        span = list(range(low, high + 1)) if low <= high else suspect_indices(list(ranges.values()))
        key = min(ranges, key=lambda k: (ranges[k][1], k))
        first = ranges[key][1]
        line = self.lines[key]
        below = [i for i in span if i < first]
        running = [i for i in below if (v := line.verdict_at(i)) is not None and v.pending]
        untested = [i for i in below if line.verdict_at(i) is None]
        verdict = line.verdict_at(first)
        rerun_pending = verdict is not None and verdict.pending
        sha = order[first]
        tries = verdict.tries if verdict is not None and verdict.failed else 0
        evidence = [self._evidence(first, key)]
        parent_passed = False
        if len(span) == 1 and first > 0:
            for other in sorted(ranges):
                before = self.lines[other].verdict_at(first - 1)
                if before is not None and before.passed:
                    parent_passed = True
                    evidence.append(self._evidence(first - 1, other))
                    break
        # A failure below that is being rerun most likely fails again and is the first
        # failure once more: bisecting the commits after it meanwhile would be wasted.
        refailing = any(line.verdicts[line.position(i)].tries for i in running)
        wanted: list[Probe] = []
        if bisect and untested and not refailing:
            # A few untested commits are run at once (a run takes hours; a breakage is often
            # over sooner); more are halved, one run at a time, once nothing else runs.
            if len(untested) <= PARALLEL_BISECT:
                picks = sorted(untested, key=lambda i: (abs(2 * i - low - first), i))
            else:
                picks = [] if running else [untested[len(untested) // 2]]
            wanted += [Probe(BISECT, order[i], key.workflow) for i in picks]
        settled = not running and not rerun_pending and not (bisect and untested)
        if confirm_first:  # (the alert is filed once it reports: it does not wait its turn)
            rerunning = any(v.tries for i in running if (v := line.verdict_at(i)) is not None)
            settled = not rerun_pending and not rerunning
        if settled and confirm and tries == 1 and verdict is not None and verdict.failed:
            result = verdict.decisive
            wanted.append(Probe(RERUN, sha, key.workflow, result.job, result.job_id, result.run_id))
        if len(span) == 1 and tries >= 2 and parent_passed:
            status = CulpritStatus.CONFIRMED
        elif wanted or running or rerun_pending:
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

    def pending_from(self, keys: Iterable[JobKey], index: int) -> bool:
        """Whether any of the keys is pending on a commit at or after `index`."""
        for key in keys:
            line = self.lines.get(key)
            if line is not None:
                start = bisect_left(line.idx, index)
                if any(v.pending for v in line.verdicts[start:]):
                    return True
        return False

    def latest_index(self, keys: Iterable[JobKey]) -> int:
        return max(
            (self.lines[k].idx[-1] for k in keys if k in self.lines and self.lines[k].idx),
            default=0,
        )


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
