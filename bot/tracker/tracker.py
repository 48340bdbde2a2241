"""RepoTracker: the meaning of "broken" for one repository, as a pure function of its facts.

This module keeps the facts and the clock; `decisions.py` the alerts and what changes them,
`group.py`, `walk.py` and `blame.py` each group's keys, episodes and suspects, `views.py`
what the status page shows.

Facts are pushes (the trunk order) and job results. Decisions are a function of the
trunk-ordered history and of the alerts already emitted, never of arrival order:

1. Results are evaluated in trunk order. A result for a commit not yet placed is kept and
   counts once a push places it.
2. On one commit, the latest attempt of each (workflow, job name) counts, ordered by
   (run_id, run_attempt, job_id); per job key (shards merged) any FAIL fails, else it
   passes once every shard of the suite seen on the branch has passed (a key must not
   pass, then fail, on one commit as its shards finish one by one). A pass that needed a
   rerun is a flake: counted, and a pass.
3. A run without job-level results counts under JobKey(workflow, ""); a green run (latest
   attempt) also passes JobKey(workflow, "") and every job of its workflow whose own
   latest attempt is older than that run attempt.
4. A key's streak as of a commit: the failing commits before the first passing one, walking
   back over the commits that have a result for it.
5. The group is broken at a commit when `min_failing_jobs` keys have a streak of at least
   `threshold` there.
6. Walking the branch from the newest closed alert's `closed_at` commit (inclusive, with
   each key's streak as of the commit before), episodes open where the group breaks, take
   in the keys that reach the threshold while they last, and recover where each of those
   has passed `recovery_passes` times since it last reached the threshold. The keys of an
   alert a person resolved count for nothing until each has passed once. The episodes are
   diffed against the emitted alerts: OPEN (then CLOSE if the episode already recovered),
   UPDATE when the jobs, their streaks, the suspects or the last green commit changed,
   CLOSE/RECOVERED, or CLOSE/FLAKY when reruns removed the episode from history. Closed
   alerts are never reopened; a new episode is a new alert with the next `seq`. The newest
   closed alert that RECOVERED is withdrawn (CLOSE/FLAKY, its `closed_at` kept) when reruns
   that report after its recovery leave none of its keys a streak before that commit.
7. An OPEN describes the episode as of the commit where it opened and a CLOSE/RECOVERED as
   of the commit before it recovered, so the same history gives the same OPEN and CLOSE
   decisions; an UPDATE describes the newest commit. `at` is the commit whose results led
   to the decision, `delivery_id` the delivery of the latest attempt among them.
8. The alert's jobs are the keys of its episode that have not recovered yet (with
   `recovery_passes: 1`, those whose streak is at or over the threshold). A job's
   blamelist: the commits after its last pass up to the first failure of the lowest streak
   that reached the threshold after that pass, or of a lower one with a failure of most of
   the key's jobs, or one that failed again on its rerun (fewer failures below a pending
   commit may be flakes; the pending commits in it make the suspects provisional), and on
   to the next failure when the breakage did not reach that first one (a job that fails on
   the next two failures passed there); the suspects: the commits in every blamelist, or
   in any when none is in all. Without a known pass, the blamelist runs from the oldest
   known commit and `suspects_known` is False. `last_green`: the newest commit before the
   earliest first failure where each of the alert's jobs with a result passed.
9. A repeated fact changes nothing.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import replace

from bot.tracker import views
from bot.tracker.decisions import Decisions
from bot.tracker.group import BranchFacts, GroupTrack
from bot.tracker.jobkeys import watches_workflow
from bot.tracker.model import (
    AlertState,
    CloseReason,
    CommitInfo,
    Decision,
    DecisionKind,
    Grid,
    GroupStatus,
    JobResult,
    Push,
    TrackerConfig,
)
from bot.tracker.results import CommitResults, fact_time

StoredCommit = tuple[str, CommitInfo, str | None]  # (branch, commit, parent) as the store has it


def prune_slack(retention: int) -> int:
    """Commits a branch may hold past its retention before it is pruned (in batches)."""
    return max(1, retention // 10)


class RepoTracker(Decisions):
    """The trunk, the job results and the alerts of one repository."""

    def __init__(self, repo: str, config: TrackerConfig, alerts: Iterable[AlertState] = ()) -> None:
        self.repo = repo
        self.config = config
        self._alerts: dict[str, AlertState] = {}
        self._by_group: dict[tuple[str, str], list[str]] = {}  # (branch, group) → alert ids
        self._open_ids: dict[tuple[str, str], str] = {}  # (branch, group) → its open alert
        for alert in alerts:
            self._record(alert)
        self._branches: dict[str, BranchFacts] = {}
        self._groups: dict[tuple[str, str], GroupTrack] = {}
        self._stale = False  # facts loaded in bulk, not yet placed
        self.clock = 0.0  # the newest time the facts (or `tick`) told of, in epoch seconds
        self._pending: list[tuple[float, str, str]] = []  # (started, branch, sha) heap
        self._make_groups()

    # -- facts ------------------------------------------------------------------------------

    def placed(self, result: JobResult) -> JobResult | None:
        """The result as the tracker counts it: on its watched branch (a bisection run, on
        its tag, counts on the branch that holds its commit); None when unwatched."""
        if result.branch in self.config.branches:
            return result
        if result.branch and result.branch == self.config.bisect_tag_for(result.head_sha):
            for branch in self.config.branches:
                facts = self._branches.get(branch)
                if facts is not None and result.head_sha in facts.order.index:
                    return replace(result, branch=branch)
        return None

    def apply(self, fact: Push | JobResult) -> list[Decision]:
        """Take one fact; the decisions it causes (none for unwatched branches or repeats)."""
        if isinstance(fact, JobResult):
            placed = self.placed(fact)
            if placed is None:
                return []
            fact = placed
        elif fact.branch not in self.config.branches:
            return []
        decisions = self.evaluate() if self._stale else []
        facts = self._facts(fact.branch)
        if isinstance(fact, JobResult):
            decisions += self._advance(fact_time(fact))
        if isinstance(fact, Push):
            changed = facts.order.add_push(fact)
            if changed is None:
                return decisions
            if not self._prune(fact.branch):
                for rule in self.config.groups:
                    self._groups[(fact.branch, rule.name)].reindex(changed)
        else:
            if facts.order.is_pruned(fact.head_sha) or not self._add_result(facts, fact):
                return decisions
            if fact.pending and (started := fact_time(fact)) is not None:
                heapq.heappush(self._pending, (started, fact.branch, fact.head_sha))
            index = facts.order.index.get(fact.head_sha)
            if index is None:
                return decisions
            commit_results = facts.results[fact.head_sha]
            for rule in self.config.groups:
                self._groups[(fact.branch, rule.name)].on_result(index, commit_results, fact)
        return decisions + self._decide_branch(fact.branch)

    def load(
        self, commits: Iterable[StoredCommit | Push], results: Iterable[JobResult] = ()
    ) -> None:
        """Take stored facts in bulk without deciding anything; `evaluate` decides after.

        Commits come as (branch, commit, parent) triples as the store keeps them (pushes are
        accepted too).
        """
        for item in commits:
            if isinstance(item, Push):
                if item.branch in self.config.branches:
                    parent: str | None = item.before
                    links = []
                    for commit in item.commits:
                        links.append((commit, parent))
                        parent = commit.sha
                    self._facts(item.branch).order.add_links(links)
                continue
            branch, commit, parent = item
            if branch in self.config.branches:
                self._facts(branch).order.add_links([(commit, parent)])
        for stored in results:
            result = self.placed(stored)  # (after the commits: a bisection run needs them)
            if result is not None:
                self._add_result(self._facts(result.branch), result)
                when = fact_time(result)
                if when is not None:
                    self.clock = max(self.clock, when)
                    if result.pending:
                        heapq.heappush(self._pending, (when, result.branch, result.head_sha))
        self._set_expiry()
        self._stale = True

    # -- time -------------------------------------------------------------------------------

    def tick(self, now: float) -> list[Decision]:
        """Time passed (`now`, epoch seconds) without a fact: pending results may have timed
        out and provisional suspects may have waited long enough."""
        decisions = self.evaluate() if self._stale else []
        return decisions + self._advance(now)

    def next_deadline(self) -> float | None:
        """When `tick` would next change something (a pending result times out, suspects
        stop waiting); None when nothing waits."""
        deadlines = [self._pending[0][0] + self.config.pending_timeout] if self._pending else []
        deadlines += [
            alert.opened_time + self.config.suspects_wait
            for alert in self._open_alerts()
            if alert.provisional
        ]
        return min(deadlines, default=None)

    def _set_expiry(self) -> None:
        expired = self.clock - self.config.pending_timeout
        for facts in self._branches.values():
            facts.expired = expired

    def _advance(self, now: float | None) -> list[Decision]:
        """Move the clock to `now`; re-decide what that changes."""
        if now is None or now <= self.clock:
            return []
        self.clock = now
        self._set_expiry()
        expired = self.clock - self.config.pending_timeout
        touched: set[str] = set()
        while self._pending and self._pending[0][0] < expired:
            _, branch, sha = heapq.heappop(self._pending)
            facts = self._branches.get(branch)
            index = facts.order.index.get(sha) if facts is not None else None
            if facts is None or index is None:
                continue
            touched.add(branch)
            for rule in self.config.groups:
                self._groups[(branch, rule.name)].refresh_commit(index)
        for alert in self._open_alerts():
            waited = self.clock >= alert.opened_time + self.config.suspects_wait
            if alert.provisional and waited:
                track = self._groups.get((alert.branch, alert.group))
                if track is not None:
                    track.changed = True
                    touched.add(alert.branch)
        decisions: list[Decision] = []
        for branch in sorted(touched):
            decisions += self._decide_branch(branch)
        return decisions

    def evaluate(self) -> list[Decision]:
        """Decide on everything known, against the alerts already emitted.

        Decisions that the restored alert states already reflect are not emitted again, so
        a restart after a crash between deciding and recording is safe.
        """
        if self._stale:
            self._stale = False
            for branch in self.config.branches:
                facts = self._facts(branch)
                facts.order.rebuild()
                if not self._prune(branch):
                    for rule in self.config.groups:
                        self._groups[(branch, rule.name)] = GroupTrack(
                            rule, self.config.recovery_passes, facts
                        )
        decisions: list[Decision] = []
        for branch in sorted(set(self.config.branches)):
            decisions += self._decide_branch(branch, everything=True)
        return decisions

    def set_config(self, config: TrackerConfig) -> list[Decision]:
        """Adopt a new configuration and decide again with its rules."""
        self.config = config
        self._make_groups()
        return self.evaluate()

    def resolve(self, branch: str, group: str, delivery_id: str = "") -> list[Decision]:
        """A person resolved the group's open alert: close it; its jobs do not refile
        before each of them has passed once (the same streak never refiles)."""
        alert = self.open_alert(branch, group)
        if alert is None:
            return []
        head = self.head(branch) or alert.opened_at
        closed = replace(alert, open=False, closed_at=head, reason=CloseReason.RESOLVED_BY_USER)
        self._record(closed)
        decision = self._decision(
            DecisionKind.CLOSE, closed, head, delivery_id, reason=CloseReason.RESOLVED_BY_USER
        )
        if (branch, group) not in self._groups:
            return [decision]
        return [decision, *self._decide(branch, group)]

    # -- queries ----------------------------------------------------------------------------

    def commit(self, sha: str) -> CommitInfo | None:
        for facts in self._branches.values():
            info = facts.order.info.get(sha)
            if info is not None:
                return info
        return None

    def head(self, branch: str) -> str | None:
        facts = self._branches.get(branch)
        return facts.order.head if facts is not None else None

    def trunk(self, branch: str) -> list[CommitInfo]:
        """The branch's commits in trunk order, oldest first (what retention keeps)."""
        facts = self._branches.get(branch)
        if facts is None:
            return []
        return [facts.order.info[sha] for sha in facts.order.order]

    def watches_workflow(self, workflow: str) -> bool:
        return any(watches_workflow(rule, workflow) for rule in self.config.groups)

    def workflow_in_streak(self, branch: str, workflow: str) -> bool:
        """Whether some job of the workflow is failing on the branch's newest commits."""
        facts = self._branches.get(branch)
        if facts is None:
            return False
        head = len(facts.order) - 1
        return any(
            key.workflow == workflow and line.streak_at(head) > 0
            for (b, _), group in self._groups.items()
            if b == branch
            for key, line in group.lines.items()
        )

    def group_status(self, branch: str, group: str) -> GroupStatus:
        track = self._track(branch, group)
        return views.group_status(track, branch, self.open_alert(branch, group))

    def grid(self, branch: str, group: str, n: int = 30) -> Grid:
        """The newest `n` commits (newest first) by the group's job keys."""
        return views.grid(self._track(branch, group), n)

    # -- internals: facts -------------------------------------------------------------------

    def _facts(self, branch: str) -> BranchFacts:
        facts = self._branches.get(branch)
        if facts is None:
            facts = self._branches[branch] = BranchFacts()
            for rule in self.config.groups:
                self._groups[(branch, rule.name)] = GroupTrack(
                    rule, self.config.recovery_passes, facts
                )
        return facts

    def _make_groups(self) -> None:
        self._group_names = sorted({rule.name for rule in self.config.groups})
        self._groups = {}
        for branch in self.config.branches:
            facts = self._facts(branch)
            for rule in self.config.groups:
                self._groups[(branch, rule.name)] = GroupTrack(
                    rule, self.config.recovery_passes, facts
                )

    def _track(self, branch: str, group: str) -> GroupTrack:
        if self._stale:
            self.evaluate()
        track = self._groups.get((branch, group))
        if track is None:
            raise KeyError(f"{branch}/{group} is not watched")
        return track

    @staticmethod
    def _add_result(facts: BranchFacts, result: JobResult) -> bool:
        commit_results = facts.results.get(result.head_sha)
        if commit_results is None:
            commit_results = facts.results[result.head_sha] = CommitResults()
        if not commit_results.add(result):
            return False
        if not result.job:
            facts.run_shas.setdefault(result.workflow, set()).add(result.head_sha)
        return True

    def _prune(self, branch: str) -> bool:
        """Keep the newest `retention_commits` (pruned in batches); True if anything went."""
        facts = self._branches[branch]
        keep = self.config.retention_commits
        if len(facts.order) <= keep + prune_slack(keep):
            return False
        for sha in facts.order.prune(keep):
            facts.results.pop(sha, None)
        for shas in facts.run_shas.values():
            shas.intersection_update(facts.results)
        for rule in self.config.groups:
            self._groups[(branch, rule.name)] = GroupTrack(rule, self.config.recovery_passes, facts)
        return True
