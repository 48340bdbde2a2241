"""Views of one group for the status page and commands: each job key's state, and the grid
of the newest commits by key."""

from __future__ import annotations

from bot.tracker.group import GroupTrack
from bot.tracker.model import (
    AlertState,
    Grid,
    GridCell,
    GridRow,
    GroupStatus,
    JobKey,
    JobStatus,
)
from bot.tracker.timeline import KeyLine


def group_status(track: GroupTrack, branch: str, alert: AlertState | None) -> GroupStatus:
    """The group's job keys and whether it is broken, as of its newest commit."""
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
    return GroupStatus(
        branch=branch,
        group=track.rule.name,
        jobs=tuple(jobs),
        broken=len(failing) >= track.rule.min_failing_jobs,
        last_green=track.last_green(sorted(track.lines), head + 1),
        suspects=content.suspects if content else (),
        suspects_known=content.suspects_known if content else True,
        open_alert=alert.alert if alert else None,
        breakages=content.breakages if content else (),
    )


def grid(track: GroupTrack, n: int = 30) -> Grid:
    """The newest `n` commits (newest first) by the group's job keys."""
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
