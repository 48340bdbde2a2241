"""RepoTracker: the meaning of "broken" for one repository, as a pure function of its facts.

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
   blamelist: the commits after its last pass up to the first failure after that pass
   (failures split by a pending commit are provisional until it reports); the suspects: the
   commits in every blamelist, or in any when none is in all. Without a known pass, the
   blamelist runs from the oldest known commit and `suspects_known` is False. `last_green`:
   the newest commit before the earliest first failure where each of the alert's jobs with
   a result passed.
9. A repeated fact changes nothing.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import replace

from bot.tracker.group import BranchFacts, Content, Episode, GroupTrack, WalkState
from bot.tracker.jobkeys import watches_workflow
from bot.tracker.model import (
    AlertState,
    CloseReason,
    CommitInfo,
    Decision,
    DecisionKind,
    Grid,
    GridCell,
    GridRow,
    GroupStatus,
    JobKey,
    JobResult,
    JobStatus,
    Push,
    TrackerConfig,
)
from bot.tracker.results import CommitResults, fact_time
from bot.tracker.timeline import KeyLine

_KIND_ORDER = {DecisionKind.OPEN: 0, DecisionKind.UPDATE: 1, DecisionKind.CLOSE: 2}

StoredCommit = tuple[str, CommitInfo, str | None]  # (branch, commit, parent) as the store has it


def _decision_order(decision: Decision) -> tuple[str, str, int, int]:
    seq = int(decision.alert.rsplit(":", 1)[1])
    return (decision.branch, decision.group, seq, _KIND_ORDER[decision.kind])


def prune_slack(retention: int) -> int:
    """Commits a branch may hold past its retention before it is pruned (in batches)."""
    return max(1, retention // 10)


class RepoTracker:
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

    def alerts(self) -> list[AlertState]:
        return sorted(self._alerts.values(), key=lambda a: (a.branch, a.group, a.seq))

    def _open_alerts(self) -> list[AlertState]:
        return [self._alerts[alert_id] for alert_id in self._open_ids.values()]

    def open_alert(self, branch: str, group: str) -> AlertState | None:
        alert_id = self._open_ids.get((branch, group))
        return self._alerts[alert_id] if alert_id is not None else None

    def _record(self, alert: AlertState) -> None:
        if alert.alert not in self._alerts:
            ids = self._by_group.setdefault((alert.branch, alert.group), [])
            ids.append(alert.alert)
            if len(ids) > 1 and self._alerts[ids[-2]].seq > alert.seq:
                ids.sort(key=lambda i: self._alerts[i].seq if i in self._alerts else alert.seq)
        self._alerts[alert.alert] = alert
        where = (alert.branch, alert.group)
        if alert.open:
            self._open_ids[where] = alert.alert
        elif self._open_ids.get(where) == alert.alert:
            del self._open_ids[where]

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
        order = track.facts.order.order
        head = len(order) - 1
        jobs: list[JobStatus] = []
        failing: list[JobKey] = []
        for key in sorted(track.lines):
            line = track.lines[key]
            if not line.idx:
                continue
            streak = line.streak_at(head)
            if streak >= track.rule.threshold:
                failing.append(key)
            last_pass = line.last_pass_before(len(line.idx))
            latest = line.verdicts[-1]
            jobs.append(
                JobStatus(
                    key=key,
                    streak=streak,
                    last_passing_sha=None if last_pass is None else order[line.idx[last_pass]],
                    flakes=sum(v.flakes for v in line.verdicts),
                    latest_url=latest.failed_url or latest.decisive.url,
                    pending=sum(v.pending for v in line.verdicts),
                    infra=sum(v.infra for v in line.verdicts),
                )
            )
        content = track.content(failing, head) if failing else None
        alert = self.open_alert(branch, group)
        return GroupStatus(
            branch=branch,
            group=group,
            jobs=tuple(jobs),
            broken=len(failing) >= track.rule.min_failing_jobs,
            last_green=track.last_green(sorted(track.lines), head + 1),
            suspects=content.suspects if content else (),
            suspects_known=content.suspects_known if content else True,
            open_alert=alert.alert if alert else None,
            breakages=content.breakages if content else (),
        )

    def grid(self, branch: str, group: str, n: int = 30) -> Grid:
        """The newest `n` commits (newest first) by the group's job keys."""
        track = self._track(branch, group)
        order = track.facts.order
        keys = tuple(sorted(k for k, line in track.lines.items() if line.idx))
        lines: list[KeyLine] = [track.lines[k] for k in keys]
        rows: list[GridRow] = []
        for index in range(len(order) - 1, max(-1, len(order) - 1 - n), -1):
            cells: list[GridCell] = []
            for line in lines:
                verdict = line.verdict_at(index)
                if verdict is None:
                    cells.append(GridCell.NONE)
                elif verdict.failed:
                    cells.append(GridCell.FAIL)
                elif verdict.pending:
                    cells.append(GridCell.PENDING)
                elif verdict.infra:
                    cells.append(GridCell.INFRA)
                else:
                    cells.append(GridCell.FLAKY if verdict.flakes else GridCell.PASS)
            rows.append(GridRow(order.info[order.order[index]], tuple(cells)))
        return Grid(keys, tuple(rows))

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

    # -- internals: decisions ---------------------------------------------------------------

    def _decide_branch(self, branch: str, everything: bool = False) -> list[Decision]:
        decisions: list[Decision] = []
        for name in self._group_names:
            if everything or self._groups[(branch, name)].changed:
                decisions += self._decide(branch, name)
        if len(decisions) > 1:
            decisions.sort(key=_decision_order)
        return decisions

    def _decide(self, branch: str, group: str) -> list[Decision]:
        track = self._groups[(branch, group)]
        track.changed = False
        order = track.facts.order
        ids = self._by_group.get((branch, group), [])
        current = self.open_alert(branch, group)
        seq = self._alerts[ids[-1]].seq if ids else 0
        last_closed = next(
            (self._alerts[i] for i in reversed(ids) if not self._alerts[i].open), None
        )
        start, suppressed, covered = 0, frozenset[JobKey](), frozenset[JobKey]()
        if last_closed is not None:
            start = order.index.get(last_closed.closed_at or "", 0)
            if last_closed.reason is CloseReason.RESOLVED_BY_USER:
                suppressed = frozenset(job.key for job in last_closed.jobs)
            else:
                covered = frozenset(job.key for job in last_closed.jobs)
        state = track.walk(start, suppressed, covered)
        episodes = state.all_episodes()
        decisions: list[Decision] = []
        if current is not None:
            if not episodes and self._interrupted(current, track):
                pass  # a rerun (or a late run) is still going between its failures: wait
            elif not episodes:
                decisions.append(self._withdraw(current, track))
            elif episodes[0].recovered is not None:
                decisions.append(self._recover(current, episodes[0], track))
            else:
                decisions += self._update(current, track, state)
            episodes = episodes[1:]
        for episode in episodes:
            seq += 1
            decisions += self._open(branch, group, seq, episode, track, state)
        # The newest closed alert, this one included if it just recovered (so that a restart,
        # which sees it closed, decides as the live run did).
        now = self._by_group.get((branch, group), [])
        newest = next((self._alerts[i] for i in reversed(now) if not self._alerts[i].open), None)
        if newest is not None and self._vanished(newest, track):
            decisions.append(self._withdraw(newest, track, newest.closed_at))
        return decisions

    @staticmethod
    def _vanished(alert: AlertState, track: GroupTrack) -> bool:
        """Whether an alert that recovered stood on no streak at all: the reruns of its
        failures passed after it closed (it is then withdrawn as flaky, as it would have
        been had they passed sooner)."""
        index = track.facts.order.index
        closed = index.get(alert.closed_at or "")
        firsts = [index[j.first_failing_sha] for j in alert.jobs if j.first_failing_sha in index]
        if alert.reason is not CloseReason.RECOVERED or closed is None or not firsts:
            return False
        low = min(firsts)
        for job in alert.jobs:
            line = track.lines.get(job.key)
            if line is None:
                continue
            span = line.verdicts[bisect_left(line.idx, low) : bisect_left(line.idx, closed)]
            if any(v.pending for v in span):
                return False  # (a rerun still running: it may fail again)
            for run in line.runs:  # a streak that was on while the alert was (it may start
                # earlier than the alert's first failure, once older results came in)
                if line.idx[run.reach] < closed and (run.end is None or line.idx[run.end] > low):
                    return False
        return True

    def _open(
        self,
        branch: str,
        group: str,
        seq: int,
        episode: Episode,
        track: GroupTrack,
        state: WalkState,
    ) -> list[Decision]:
        order = track.facts.order.order
        content = self._content(track, episode.opening, episode.opened)
        at, delivery = track.decisive(episode.opening, episode.opened, failing=True)
        alert = self._with_content(
            AlertState(
                alert=f"{self.repo}:{branch}:{group}:{seq}",
                repo=self.repo,
                branch=branch,
                group=group,
                seq=seq,
                open=True,
                opened_at=order[episode.opened],
                opened_time=self.clock,
            ),
            content,
        )
        self._record(alert)
        opened = self._decision(DecisionKind.OPEN, alert, order[at], delivery)
        if episode.recovered is not None:
            return [opened, self._recover(alert, episode, track)]
        return [opened, *self._update(alert, track, state)]

    def _update(self, alert: AlertState, track: GroupTrack, state: WalkState) -> list[Decision]:
        head = len(track.facts.order) - 1
        content = self._content(track, state.unrecovered, head)
        changed = _changes(alert, self._with_content(alert, content))
        if not changed:
            return []
        updated = self._with_content(alert, content)
        self._record(updated)
        at, delivery = track.decisive(state.unrecovered, track.latest_index(state.unrecovered))
        order = track.facts.order.order
        return [self._decision(DecisionKind.UPDATE, updated, order[at], delivery, changed=changed)]

    def _recover(self, alert: AlertState, episode: Episode, track: GroupTrack) -> Decision:
        assert episode.recovered is not None
        order = track.facts.order.order
        content = self._content(track, episode.keys, episode.recovered - 1)
        at, delivery = track.decisive(episode.keys, episode.recovered, failing=False)
        closed = replace(
            self._with_content(alert, content),
            open=False,
            closed_at=order[episode.recovered],
            reason=CloseReason.RECOVERED,
        )
        self._record(closed)
        return self._decision(
            DecisionKind.CLOSE,
            closed,
            order[at],
            delivery,
            reason=CloseReason.RECOVERED,
            recovered_by=order[episode.recovered],
        )

    @staticmethod
    def _interrupted(alert: AlertState, track: GroupTrack) -> bool:
        """Whether the open alert's streak is gone only because a result between its
        failures is pending again (a rerun was requested): it may come back."""
        index = track.facts.order.index
        firsts = [index[j.first_failing_sha] for j in alert.jobs if j.first_failing_sha in index]
        return bool(firsts) and track.pending_from([j.key for j in alert.jobs], min(firsts))

    def _withdraw(
        self, alert: AlertState, track: GroupTrack, closed_at: str | None = None
    ) -> Decision:
        """The alert's episode is gone from history: reruns turned failures into passes.
        `closed_at`: where it closed, when it had already recovered."""
        order = track.facts.order
        keys = [job.key for job in alert.jobs]
        low = min(
            (
                order.index[j.first_failing_sha]
                for j in alert.jobs
                if j.first_failing_sha in order.index
            ),
            default=0,
        )
        flaky: list[JobKey] = []
        newest: tuple[int, JobKey] | None = None
        for key in keys:
            line = track.lines.get(key)
            if line is None:
                continue
            for pos in range(len(line.idx) - 1, -1, -1):
                if line.idx[pos] < low:
                    break
                if line.verdicts[pos].flakes:
                    flaky.append(key)
                    if newest is None or (line.idx[pos], key) > newest:
                        newest = (line.idx[pos], key)
                    break
        if newest is not None:
            at, delivery = track.decisive([newest[1]], newest[0])
        else:
            at, delivery = track.decisive(keys, track.latest_index(keys))
        head = closed_at or order.head or alert.opened_at
        closed = replace(alert, open=False, closed_at=head, reason=CloseReason.FLAKY)
        self._record(closed)
        return self._decision(
            DecisionKind.CLOSE,
            closed,
            order.order[at] if order.order else head,
            delivery,
            reason=CloseReason.FLAKY,
            flaky_reruns=tuple(str(k) for k in (flaky or keys)),
        )

    def _content(self, track: GroupTrack, keys: Iterable[JobKey], index: int) -> Content:
        config = self.config
        return track.content(
            keys, index, config.confirm, bool(config.bisect_tag), config.confirm_first
        )

    def _with_content(self, alert: AlertState, content: Content) -> AlertState:
        waiting = self.clock < alert.opened_time + self.config.suspects_wait
        return replace(
            alert,
            jobs=content.jobs,
            streak=content.streak,
            suspects=content.suspects,
            suspects_known=content.suspects_known,
            last_green=content.last_green,
            pending=content.pending,
            # (a rerun of a failure among them holds the labels however long it takes: it
            # is most likely a confirmation, and the suspects will come back as they were)
            provisional=bool(content.pending) and (waiting or content.rerunning),
            breakages=content.breakages,
        )

    def _decision(
        self,
        kind: DecisionKind,
        alert: AlertState,
        at: str,
        delivery_id: str,
        *,
        reason: CloseReason | None = None,
        recovered_by: str | None = None,
        flaky_reruns: tuple[str, ...] = (),
        changed: Sequence[str] = (),
    ) -> Decision:
        return Decision(
            kind=kind,
            alert=alert.alert,
            repo=self.repo,
            branch=alert.branch,
            group=alert.group,
            jobs=alert.jobs,
            streak=alert.streak,
            suspects=alert.suspects,
            suspects_known=alert.suspects_known,
            last_green=alert.last_green,
            pending=alert.pending,
            provisional=alert.provisional,
            breakages=alert.breakages,
            at=at,
            delivery_id=delivery_id,
            reason=reason,
            recovered_by=recovered_by,
            flaky_reruns=flaky_reruns,
            changed=tuple(changed),
        )


def _changes(alert: AlertState, content: AlertState) -> tuple[str, ...]:
    """What an UPDATE would change: "jobs", "streak", "suspects", "last_green", "pending",
    "provisional", "culprit" (a breakage's status, evidence or wanted runs)."""
    changed: list[str] = []
    if {j.key for j in alert.jobs} != {j.key for j in content.jobs}:
        changed.append("jobs")
    if {(j.key, j.streak) for j in alert.jobs} != {(j.key, j.streak) for j in content.jobs}:
        changed.append("streak")
    if alert.suspects != content.suspects or alert.suspects_known != content.suspects_known:
        changed.append("suspects")
    if alert.last_green != content.last_green:  # only when history was inserted before it
        changed.append("last_green")
    if alert.pending != content.pending:
        changed.append("pending")
    if alert.provisional != content.provisional:
        changed.append("provisional")
    if alert.breakages != content.breakages:
        changed.append("culprit")
    return tuple(changed)
