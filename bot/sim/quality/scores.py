"""The alert-quality table: each rule's alerts scored against the trunk's truth."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from bot.sim.quality.alerts import Alert, alerts_for, first_labelled_at, labelled_for
from bot.sim.trunksim import FAILING, Breakage, Trunk, normalized
from bot.tracker.model import CloseReason


@dataclass
class Score:
    alerts: int = 0
    false_alarms: int = 0
    rerun_passed: int = 0
    duplicates: int = 0
    found: int = 0
    breakages: int = 0
    labelled: int = 0  # breakages whose alert labelled suspects
    culprit_in_first: int = 0
    exact_first: int = 0
    exact_allowed: int = 0
    exact_first_now: int = 0  # exact when first labelled, of those ...
    exact_allowed_now: int = 0  # ... whose results known then allowed it
    commits_to_alert: list[int] = field(default_factory=list)
    minutes_to_alert: list[float] = field(default_factory=list)

    def add(self, other: Score) -> None:
        for name, value in vars(other).items():
            setattr(self, name, getattr(self, name) + value)


def final_conclusions(trunk: Trunk) -> dict[tuple[int, str, str], str]:
    """(commit, workflow, job name) → the conclusion of the job's latest attempt, in the
    planned history (the runs the App asked for are not counted)."""
    latest: dict[tuple[int, str, str], tuple[int, str]] = {}
    for event in trunk.events:
        d = event.data
        if event.kind == "job" and d["status"] == "completed":
            where = (d["index"], d["workflow"], d["name"])
            if where not in latest or latest[where][0] < d["attempt"]:
                latest[where] = (d["attempt"], d["conclusion"])
    return {where: conclusion for where, (_, conclusion) in latest.items()}


def allows_exact(trunk: Trunk, b: Breakage, final: dict[tuple[int, str, str], str]) -> bool:
    """The culprit's own run reported a failure of the breakage and its parent passed it."""
    culprit = any(final.get((b.culprit, b.workflow, j)) in FAILING for j in b.jobs)
    parent = all(final.get((b.culprit - 1, b.workflow, j)) == "success" for j in b.jobs)
    return culprit and parent


Arrivals = dict[tuple[int, str, str], list[tuple[float, int, str]]]


def arrivals(trunk: Trunk) -> Arrivals:
    """(commit, workflow, job name) → its completed attempts: (minute the App could know
    it, attempt, conclusion), in the planned history. Without `workflow_job` events the App
    learns a job's result when it lists the jobs of its run, on the run's `completed`
    delivery: a job counts from then (and not at all when it was not listed then)."""
    listed: dict[tuple[int, int], float] = {}  # (run id, attempt) → its completed delivery
    if not trunk.knobs.workflow_jobs:
        for event in trunk.events:
            d = event.data
            if event.kind == "run" and d["status"] == "completed":
                listed[(d["run_id"], d["attempt"])] = event.at
    found: Arrivals = {}
    for event in trunk.events:
        d = event.data
        if event.kind != "job" or d["status"] != "completed":
            continue
        at = event.at
        if not trunk.knobs.workflow_jobs:
            at = listed.get((d["run_id"], d["attempt"]), -1.0)
            if at < event.at:
                continue  # (its run was not over, or not yet listed with it)
        where = (d["index"], d["workflow"], d["name"])
        found.setdefault(where, []).append((at, d["attempt"], d["conclusion"]))
    return found


def allows_exact_at(b: Breakage, known: Arrivals, minute: float) -> bool:
    """As `allows_exact`, with only the results that had arrived by `minute`: the history as
    the App knew it then. The culprit's own run has reported when every job of the
    breakage has a result there (one shard failing while the others still run may be
    chance: the App cannot tell it from a flake yet)."""

    def latest(index: int, job: str) -> str | None:
        seen = [(a, c) for at, a, c in known.get((index, b.workflow, job), ()) if at <= minute]
        return max(seen)[1] if seen else None

    culprit = [latest(b.culprit, j) for j in b.jobs]
    reported = None not in culprit and any(c in FAILING for c in culprit)
    return reported and all(latest(b.culprit - 1, j) == "success" for j in b.jobs)


def hindsight(trunk: Trunk, threshold: int) -> list[Alert]:
    """The plain rule, on the completed planned history."""
    final = final_conclusions(trunk)
    states: dict[tuple[str, str], dict[int, bool]] = {}  # (group, key) → commit → failed
    for (i, workflow, name), conclusion in final.items():
        if conclusion in FAILING or conclusion == "success":
            cell = states.setdefault((workflow, f"{workflow} / {normalized(name)}"), {})
            cell[i] = cell.get(i, False) or conclusion in FAILING
    alerts: list[Alert] = []
    for group in sorted({g for g, _ in states}):
        keys = {k: v for (g, k), v in states.items() if g == group}
        open_alert: Alert | None = None
        streaks = dict.fromkeys(keys, 0)
        blame: dict[str, tuple[int, int]] = {}  # key → (low, first failure)
        last_pass = dict.fromkeys(keys, -1)
        for i in range(trunk.knobs.commits):
            for key, cells in keys.items():
                if i not in cells:
                    continue
                if cells[i]:
                    if streaks[key] == 0:
                        blame[key] = (last_pass[key] + 1, i)
                    streaks[key] += 1
                else:
                    streaks[key], last_pass[key] = 0, i
            failing = [k for k, s in streaks.items() if s >= threshold]
            if failing and open_alert is None:
                low = max(blame[k][0] for k in failing)
                high = min(blame[k][1] for k in failing)
                suspects = tuple(range(low, high + 1)) if low <= high else ()
                open_alert = Alert(group, 0.0, i, {blame[k][1] for k in failing}, set(failing))
                open_alert.first_labelled = open_alert.final_labelled = suspects
                alerts.append(open_alert)
            elif failing and open_alert is not None:
                open_alert.keys |= set(failing)
            elif not failing:
                open_alert = None
    return alerts


def score(trunk: Trunk, alerts: list[Alert], max_prs: int) -> Score:
    result = Score(alerts=len(alerts), breakages=len(trunk.breakages))
    final = final_conclusions(trunk)
    known = arrivals(trunk)
    matched: set[int] = set()
    for b in trunk.breakages:
        mine = alerts_for(b, alerts)
        matched |= {id(a) for a in mine}
        allowed = allows_exact(trunk, b, final)
        result.exact_allowed += allowed
        if not mine:
            continue
        result.found += 1
        result.duplicates += len(mine) - 1
        first = min(mine, key=lambda a: (a.opened_head, a.opened_minute))
        result.commits_to_alert.append(first.opened_head - b.culprit)
        result.minutes_to_alert.append(first.opened_minute - trunk.pushed_at[b.culprit])
        mine.sort(key=lambda a: (a.opened_head, a.opened_minute))
        labelled = labelled_for(b, mine)[1]
        result.labelled += bool(labelled)
        minute = first_labelled_at(b, mine)
        now = allowed if minute is None else allows_exact_at(b, known, minute)
        result.exact_allowed_now += bool(labelled) and now
        result.exact_first_now += bool(labelled) and now and labelled == (b.culprit,)
        if labelled and b.culprit in labelled:
            result.culprit_in_first += 1
            result.exact_first += allowed and labelled == (b.culprit,)
    for a in alerts:
        if id(a) not in matched:
            if a.reason is CloseReason.FLAKY or passed_on_rerun(trunk, a, final):
                result.rerun_passed += 1
            else:
                result.false_alarms += 1
    return result


def passed_on_rerun(
    trunk: Trunk, alert: Alert, final: dict[tuple[int, str, str], str], threshold: int = 3
) -> bool:
    """Whether the alert stood on `threshold` consecutive first attempts that failed (in
    trunk order, among the commits where the job ran): chance failures in a row that only a
    rerun tells apart (culprit confirmation's job), not a streak that a result still running
    would have broken."""
    low, high = min(alert.first_failures, default=0), alert.opened_head
    first: dict[str, dict[int, bool]] = {}  # key → commit → its first attempt failed
    for event in trunk.events:
        d = event.data
        if event.kind != "job" or d["status"] != "completed" or d["attempt"] != 1:
            continue
        key = f"{d['workflow']} / {normalized(d['name'])}"
        if d["workflow"] == alert.group and key in alert.keys and low <= d["index"] <= high:
            conclusion = d.get("conclusion")
            if conclusion in FAILING or conclusion == "success":
                cells = first.setdefault(key, {})
                cells[d["index"]] = cells.get(d["index"], False) or conclusion in FAILING
    for cells in first.values():
        run = 0
        for index in sorted(cells):
            run = run + 1 if cells[index] else 0
            if run >= threshold:
                return True
    return False


def row(name: str, s: Score, live: bool) -> str:
    """One line of the quality table."""
    median_commits = statistics.median(s.commits_to_alert) if s.commits_to_alert else 0
    median_minutes = statistics.median(s.minutes_to_alert) if s.minutes_to_alert else 0
    timing = f"{median_commits:.0f} | {median_minutes:.0f}" if live else "— | —"
    return (
        f"| {name} | {s.alerts} | {s.false_alarms} | {s.rerun_passed} | {s.duplicates} "
        f"| {s.found}/{s.breakages} | {s.culprit_in_first}/{s.labelled} "
        f"| {s.exact_first}/{s.exact_allowed} | {s.exact_first_now}/{s.exact_allowed_now} "
        f"| {timing} |"
    )
