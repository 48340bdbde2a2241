"""The alerts of one repository, and the decisions about them: each group's episodes (the
walk) diffed against the alerts already emitted (see `tracker.py` for the rules)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import replace

from bot.tracker.blame import Content
from bot.tracker.group import GroupTrack
from bot.tracker.model import (
    AlertState,
    CloseReason,
    CulpritStatus,
    Decision,
    DecisionKind,
    JobKey,
    TrackerConfig,
)
from bot.tracker.walk import Episode, WalkState

RECHECKED_CLOSED = 4  # closed alerts of a group that a late rerun may still withdraw

_KIND_ORDER = {DecisionKind.OPEN: 0, DecisionKind.UPDATE: 1, DecisionKind.CLOSE: 2}


def _decision_order(decision: Decision) -> tuple[str, str, int, int]:
    seq = int(decision.alert.rsplit(":", 1)[1])
    return (decision.branch, decision.group, seq, _KIND_ORDER[decision.kind])


class Decisions:
    """The alerts emitted so far, by group, and the decisions that change them. `RepoTracker`
    keeps the facts and the group tracks these read."""

    repo: str
    config: TrackerConfig
    clock: float
    _alerts: dict[str, AlertState]
    _by_group: dict[tuple[str, str], list[str]]  # (branch, group) → alert ids
    _open_ids: dict[tuple[str, str], str]  # (branch, group) → its open alert
    _groups: dict[tuple[str, str], GroupTrack]
    _group_names: list[str]

    # -- the alerts -------------------------------------------------------------------------

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

    # -- decisions --------------------------------------------------------------------------

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
        # The newest closed alerts, this one included if it just recovered (so that a restart,
        # which sees it closed, decides as the live run did): a rerun reports hours later,
        # when the group may have had another alert since.
        now = self._by_group.get((branch, group), [])
        closed = [self._alerts[i] for i in reversed(now) if not self._alerts[i].open]
        for alert in closed[:RECHECKED_CLOSED]:
            if self._vanished(alert, track):
                decisions.append(self._withdraw(alert, track, alert.closed_at))
            elif (settled := self._settled_late(alert, track)) is not None:
                decisions.append(settled)
        return decisions

    def _settled_late(self, alert: AlertState, track: GroupTrack) -> Decision | None:
        """A recovered alert whose culprit was still being confirmed when it closed (its
        rerun takes as long as the job, and the fix often lands first): once the rerun or
        the commits below report, what it says of its culprit, if that changed. A second
        CLOSE, `changed` naming "suspects" and/or "culprit" (a breakage's status); a new
        first failure wants its own rerun (no bisection: the alert is over)."""
        if alert.reason is not CloseReason.RECOVERED or not any(
            b.status is CulpritStatus.CONFIRMING for b in alert.breakages
        ):
            return None
        index = track.facts.order.index
        closed = index.get(alert.closed_at or "")
        keys = [job.key for job in alert.jobs]
        firsts = [index[j.first_failing_sha] for j in alert.jobs if j.first_failing_sha in index]
        if not closed or not keys or not firsts:
            return None
        for key in keys:  # (a rerun of its failures still running: it may fail again)
            line = track.lines.get(key)
            if line is not None and any(
                v.pending
                for v in line.verdicts[
                    bisect_left(line.idx, min(firsts)) : bisect_left(line.idx, closed)
                ]
            ):
                return None
        content = self._content(track, keys, closed - 1, over=True)
        ids = self._by_group.get((alert.branch, alert.group), [])
        position = ids.index(alert.alert) if alert.alert in ids else 0
        previous = self._alerts[ids[position - 1]] if position > 0 else None
        floor = index.get(previous.closed_at or "", -1) if previous is not None else -1
        if not content.jobs or any(
            index.get(j.first_failing_sha, -1) <= floor for j in content.jobs
        ):
            return None  # (no streak left, or only the group's previous alert's)
        breakages = content.breakages
        # (its jobs stay those it closed with: they are what the group's next alert is told
        # apart from; the decision shows them as they stand now)
        updated = replace(
            alert,
            suspects=content.suspects,
            suspects_known=content.suspects_known,
            pending=content.pending,
            breakages=breakages,
        )
        was = {b.first_failure: b.status for b in alert.breakages}
        now = {b.first_failure: b.status for b in breakages}
        changed = ["suspects"] if updated.suspects != alert.suspects else []
        changed += ["culprit"] if was != now else []
        if not changed or content.pending:
            return None  # (while a result below is still coming, nothing is settled)
        self._record(updated)  # (only what was said: a restart, from the store, decides alike)
        at, delivery = track.decisive(keys, closed - 1)
        order = track.facts.order.order
        return self._decision(
            DecisionKind.CLOSE,
            replace(updated, jobs=content.jobs, streak=content.streak),
            order[at],
            delivery,
            reason=CloseReason.RECOVERED,
            recovered_by=alert.closed_at,
            changed=changed,
        )

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
        # (the breakage is over: nothing left to bisect, but a confirmation rerun that was
        # never asked is still wanted, so an alert on chance failures can be withdrawn)
        content = self._content(track, episode.keys, episode.recovered - 1, over=True)
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
        failures is pending again (a rerun was requested), or the next one above them is
        still coming: it may come back. (Not while anything at all above its first failure
        runs: on a busy trunk something always does, and an alert whose failures passed on
        their reruns would stay open for hours on no streak.)"""
        index = track.facts.order.index
        firsts = [index[j.first_failing_sha] for j in alert.jobs if j.first_failing_sha in index]
        keys = [j.key for j in alert.jobs]
        top = index.get(alert.opened_at, len(index) - 1)
        return bool(firsts) and track.pending_in_streak(keys, min(firsts), max(top, *firsts))

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

    def _content(
        self, track: GroupTrack, keys: Iterable[JobKey], index: int, over: bool = False
    ) -> Content:
        config = self.config
        return track.content(
            keys,
            index,
            config.confirm,
            bool(config.bisect_tag),
            config.confirm_first,
            over,
            config.bisect_at_once,
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
            # (commits missing from a blamelist, a push not delivered yet, hold them as long
            # as commits still running do)
            provisional=(bool(content.pending) and (waiting or content.rerunning))
            or (content.gap and waiting),
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
