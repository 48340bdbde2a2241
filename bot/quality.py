"""Scoring the App's alerts on generated trunks (`bot.trunksim`) against their truth.

The App is fed a trunk's deliveries in arrival order, through the replay path (handlers,
engine, tracker; no inbox). Its alerts are matched to the trunk's real breakages; a plain
"N in a row with hindsight" rule is scored on the same history. `bench/quality.py` prints
the table; the test suite runs it small on fixed seeds.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.config.model import RepoConfig
from bot.engine import RepoConfigLike, Unit
from bot.github import GitHubApp
from bot.replay import RecordedDelivery, Replayer
from bot.simulated_github import SimulatedGitHub, generate_private_key_pem
from bot.tracker.model import CloseReason, Decision, DecisionKind
from bot.trunksim import Breakage, Trunk, normalized

FAILING = ("failure", "timed_out")


@dataclass
class Alert:
    """What one alert did, as the on-call engineer saw it."""

    group: str
    opened_minute: float
    opened_head: int  # newest commit pushed when it opened
    first_failures: set[int]  # commit indices of its jobs' first failures
    keys: set[str]
    first_labelled: tuple[int, ...] | None = None  # suspect commit indices, when labelled
    reason: CloseReason | None = None


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
    commits_to_alert: list[int] = field(default_factory=list)
    minutes_to_alert: list[float] = field(default_factory=list)

    def add(self, other: Score) -> None:
        for name, value in vars(other).items():
            setattr(self, name, getattr(self, name) + value)


class Recorder:
    """A sink that keeps each decision with the minute and trunk head it was taken at."""

    def __init__(self) -> None:
        self.minute = 0.0
        self.head = -1
        self.taken: list[tuple[float, int, Decision]] = []

    async def act(
        self, decisions: Sequence[Decision], gh: Any, config: RepoConfigLike, unit: Unit
    ) -> None:
        self.taken += [(self.minute, self.head, d) for d in decisions]


async def run_app(trunk: Trunk, config: RepoConfig) -> list[tuple[float, int, Decision]]:
    """Feed the trunk's deliveries through the App; its decisions with their moments."""
    recorder = Recorder()
    index = {sha: i for i, sha in enumerate(trunk.shas)}
    if trunk.knobs.workflow_jobs:
        await _feed(trunk, Replayer(config, recorder), recorder, index, None)
        return recorder.taken

    key = generate_private_key_pem()
    sim = SimulatedGitHub(app_id=1, app_key=key)
    sim.add_installation(4242)
    await sim.start()
    app = GitHubApp(1, key, base_url=sim.base_url)
    try:
        sim.seed_deliveries(d for _, d in trunk.deliveries() if d["event"] == "push")
        gh = await app.installation_client(4242)
        await _feed(trunk, Replayer(config, recorder, gh), recorder, index, sim)
    finally:
        await app.close()
        await sim.stop()
    return recorder.taken


async def _feed(
    trunk: Trunk, replayer: Replayer, recorder: Recorder, index: dict[str, int], sim: Any
) -> None:
    for minute, delivery in trunk.deliveries():
        payload = delivery["payload"]
        recorder.minute = minute
        if delivery["event"] == "push":
            recorder.head = max(recorder.head, index[payload["after"]])
        run = payload.get("workflow_run")
        if sim is not None and run is not None and run["status"] == "completed":
            jobs = trunk.run_jobs(run["id"], run["run_attempt"], minute)
            sim.add_run(
                trunk.repo,
                run["id"],
                jobs,
                head_sha=run["head_sha"],
                workflow=run["name"],
                attempt=run["run_attempt"],
                conclusion=run["conclusion"],
            )
        await replayer.feed(RecordedDelivery(delivery["event"], delivery["delivery_id"], payload))
    if replayer.dead:
        raise RuntimeError(f"{len(replayer.dead)} deliveries failed: {replayer.dead[0][1]}")


def alerts_of(trunk: Trunk, taken: list[tuple[float, int, Decision]], max_prs: int) -> list[Alert]:
    index = {sha: i for i, sha in enumerate(trunk.shas)}
    alerts: dict[str, Alert] = {}
    for minute, head, decision in taken:
        alert = alerts.get(decision.alert)
        if decision.kind is DecisionKind.OPEN:
            alert = alerts[decision.alert] = Alert(
                decision.group,
                minute,
                head,
                {index[j.first_failing_sha] for j in decision.jobs},
                set(),
            )
        if alert is None:
            continue
        alert.keys |= {str(j.key) for j in decision.jobs}
        if decision.kind is DecisionKind.CLOSE:
            alert.reason = decision.reason
            continue
        labelled = decision.suspects_known and not decision.provisional
        if alert.first_labelled is None and labelled and 0 < len(decision.suspects) <= max_prs:
            alert.first_labelled = tuple(index[s] for s in decision.suspects)
    return list(alerts.values())


def final_conclusions(trunk: Trunk) -> dict[tuple[int, str, str], str]:
    """(commit, workflow, job name) → the conclusion of the job's latest attempt."""
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


def hindsight(trunk: Trunk, threshold: int) -> list[Alert]:
    """The plain rule, on the completed history."""
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
                open_alert.first_labelled = suspects
                alerts.append(open_alert)
            elif failing and open_alert is not None:
                open_alert.keys |= set(failing)
            elif not failing:
                open_alert = None
    return alerts


def score(trunk: Trunk, alerts: list[Alert], max_prs: int) -> Score:
    result = Score(alerts=len(alerts), breakages=len(trunk.breakages))
    final = final_conclusions(trunk)
    matched: set[int] = set()
    for b in trunk.breakages:
        mine = [
            a
            for a in alerts
            if a.group == b.workflow
            and a.keys & b.keys
            and a.opened_head >= b.culprit  # (its first failure may be a flake just before)
            and min(a.first_failures, default=b.fix) < b.fix
        ]
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
        labelled = next((a.first_labelled for a in mine if a.first_labelled), None)
        result.labelled += bool(labelled)
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
        f"| {s.exact_first}/{s.exact_allowed} | {timing} |"
    )
