"""One group on one branch: its job keys, each with its timeline of verdicts.

Job names become keys (shards merged, per the group's rule); each key's verdict on a commit
is kept in a `KeyLine` in trunk order, with the run events (a streak reached the threshold,
passed, recovered) indexed by commit for the walk (`walk.py`). What an alert says is read from
those lines (`blame.py`).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass, field

from bot.tracker.blame import Blame
from bot.tracker.jobkeys import key_for, rule_matches, shard_of
from bot.tracker.model import GroupRule, JobKey, JobResult
from bot.tracker.order import BranchOrder
from bot.tracker.results import CommitResults, Verdict
from bot.tracker.timeline import KeyLine
from bot.tracker.walk import Walk, WalkState


@dataclass(slots=True)
class BranchFacts:
    """What one branch knows: its trunk order and every result, placed or not."""

    order: BranchOrder = field(default_factory=BranchOrder)
    results: dict[str, CommitResults] = field(default_factory=dict)
    run_shas: dict[str, set[str]] = field(default_factory=dict)  # workflow → commits with runs
    expired: float = float("-inf")  # pending attempts that started before this are ignored


class GroupTrack(Walk, Blame):
    """The timelines of one group's job keys on one branch, walked (`Walk`) and read (`Blame`)."""

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
            # A rerun naming its jobs: the others are not rerun (and so of a new run of the
            # workflow on the commit, a bisect tag's, while its other jobs have not named).
            if result.run_attempt > 1 or results.ran_before(workflow, result.run_id):
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
