"""Scoring the App's alerts on generated trunks (`bot.trunksim`) against their truth.

The App is fed a trunk's deliveries in arrival order, through the replay path (handlers,
engine, tracker; no inbox). Its alerts are matched to the trunk's real breakages; a plain
"N in a row with hindsight" rule is scored on the same history. `bench/quality.py` prints
the table; the test suite runs it small on fixed seeds.

The runs the App asks for to confirm culprits (`TrunkProber`) join the feed, but the truth
side (`final_conclusions`, `allows_exact`, `hindsight`, `passed_on_rerun`) is computed on
the planned history only (`Trunk.events`): the trunk as it would have been without the
App's probes, so that scores compare across modes. The probes are scored per breakage
(`breakage_reports`, `culprit_score`): the suspects finally labelled, whether exactly the
culprit, the runs it took, and how long until it was confirmed.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bot.actions.culprit import Prober, confirmation_outstanding, request_probes
from bot.actions.policy import policy_for
from bot.config.model import RepoConfig
from bot.engine import RepoConfigLike, Unit
from bot.github import GitHubApp
from bot.replay import RecordedDelivery, Replayer
from bot.simulated_github import SimulatedGitHub, generate_private_key_pem
from bot.store.base import Store
from bot.store.record_view import Records
from bot.tracker.model import BISECT, CloseReason, CulpritStatus, Decision, DecisionKind
from bot.trunksim import EPOCH, Breakage, Request, Trunk, normalized

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
    final_labelled: tuple[int, ...] | None = None  # the suspects when last labelled
    confirmed: dict[int, float] = field(default_factory=dict)  # culprit → minute confirmed
    id: str = ""
    recovered_at: int | None = None  # the commit it recovered at, when it did
    # Each time one of its breakages was labelled: (that breakage's job keys, its suspects).
    labelled: list[tuple[frozenset[str], tuple[int, ...]]] = field(default_factory=list)
    # Each (job key, its first failure) it showed, with the newest commit pushed then.
    seen: dict[tuple[str, int], int] = field(default_factory=dict)


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
    """A sink that keeps each decision with the minute and trunk head it was taken at, and
    asks for the runs its breakages want (culprit confirmation) as the App does, from
    `prober` (the trunk's), within the configured budget."""

    def __init__(self, prober: Prober | None = None) -> None:
        self.minute = 0.0
        self.head = -1
        self.taken: list[tuple[float, int, Decision]] = []
        self.prober = prober
        self.store: Store | None = None  # where the requests are recorded (the replayer's)
        # `culprit.confirm_before_filing`: alert → where in `taken` the App would file it
        self.filed: dict[str, int] = {}

    async def act(
        self, decisions: Sequence[Decision], gh: Any, config: RepoConfigLike, unit: Unit
    ) -> None:
        if self.prober is None or self.store is None:
            self.taken += [(self.minute, self.head, d) for d in decisions]
            return
        now = (EPOCH + timedelta(minutes=self.minute)).timestamp()
        records = Records(self.store, unit.changes)
        for decision in decisions:
            self.taken.append((self.minute, self.head, decision))
            policy = policy_for(config, decision.group)
            if decision.alert not in self.filed and decision.kind is not DecisionKind.CLOSE:
                waits = policy.confirm_before_filing and await confirmation_outstanding(
                    decision, records, policy.probes, now
                )
                if not waits:  # (as the App's sink decides it, before it asks for runs)
                    self.filed[decision.alert] = len(self.taken) - 1
            await request_probes([decision], self.prober, records, policy.probes, now)


async def run_app(
    trunk: Trunk, config: RepoConfig, probe: bool = True, filed: dict[str, int] | None = None
) -> list[tuple[float, int, Decision]]:
    """Feed the trunk's deliveries through the App; its decisions with their moments.
    `probe`: the App asks for the runs that confirm culprits (reruns, bisect tags), and
    the trunk runs them. `filed` gets, per alert, the position of the decision on which the
    App files its issue (with `culprit.confirm_before_filing`, not always its OPEN)."""
    recorder = Recorder()
    if filed is not None:
        recorder.filed = filed
    recorder.prober = TrunkProber(trunk, lambda: recorder.minute) if probe else None
    index = {sha: i for i, sha in enumerate(trunk.shas)}
    if trunk.knobs.workflow_jobs:
        replayer = Replayer(config, recorder)
        recorder.store = replayer.store
        await _feed(trunk, replayer, recorder, index, None)
        return recorder.taken

    key = generate_private_key_pem()
    sim = SimulatedGitHub(app_id=1, app_key=key)
    sim.add_installation(4242)
    await sim.start()
    app = GitHubApp(1, key, base_url=sim.base_url)
    try:
        sim.seed_deliveries(d for _, d in trunk.deliveries() if d["event"] == "push")
        gh = await app.installation_client(4242)
        replayer = Replayer(config, recorder, gh)
        recorder.store = replayer.store
        await _feed(trunk, replayer, recorder, index, sim)
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


def alerts_of(
    trunk: Trunk,
    taken: list[tuple[float, int, Decision]],
    max_prs: int,
    filed: dict[str, int] | None = None,
) -> list[Alert]:
    """The alerts as filed: at their OPEN, or (`filed`, with `confirm_before_filing`) at the
    decision where the App files them; never-filed ones are left out."""
    index = {sha: i for i, sha in enumerate(trunk.shas)}
    alerts: dict[str, Alert] = {}
    for position, (minute, head, decision) in enumerate(taken):
        if filed is not None and filed.get(decision.alert, len(taken)) > position:
            continue  # not filed (yet)
        alert = alerts.get(decision.alert)
        if alert is None and decision.kind is not DecisionKind.CLOSE:
            alert = alerts[decision.alert] = Alert(
                decision.group,
                minute,
                head,
                {index[j.first_failing_sha] for j in decision.jobs},
                set(),
                id=decision.alert,
            )
        if alert is None:
            continue
        alert.keys |= {str(j.key) for j in decision.jobs}
        for j in decision.jobs:
            alert.seen.setdefault((str(j.key), index[j.first_failing_sha]), head)
        if decision.kind is DecisionKind.CLOSE:
            alert.reason = decision.reason
            if decision.recovered_by in index and alert.recovered_at is None:
                alert.recovered_at = index[decision.recovered_by or ""]
            continue
        for breakage in decision.breakages:
            if breakage.status is CulpritStatus.CONFIRMED and breakage.culprit in index:
                alert.confirmed.setdefault(index[breakage.culprit], minute)
        if not decision.provisional:  # (each breakage labels its own, within max_prs)
            parts = [(frozenset(map(str, b.jobs)), b.suspects, b.suspects_known)
                     for b in decision.breakages]  # fmt: skip
            if not parts:  # (decisions that name no breakages: the alert's as one)
                keys = frozenset(str(j.key) for j in decision.jobs)
                parts = [(keys, decision.suspects, decision.suspects_known)]
            alert.labelled += [
                (keys, tuple(index[s] for s in suspects))
                for keys, suspects, known in parts
                if known and 0 < len(suspects) <= max_prs
            ]
        labelled = decision.suspects_known and not decision.provisional
        if labelled and 0 < len(decision.suspects) <= max_prs:
            alert.final_labelled = tuple(index[s] for s in decision.suspects)
            if alert.first_labelled is None:
                alert.first_labelled = alert.final_labelled
    return list(alerts.values())


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
        labelled = labelled_for(b, sorted(mine, key=lambda a: (a.opened_head, a.opened_minute)))[1]
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


def labelled_for(
    b: Breakage, mine: list[Alert]
) -> tuple[Alert | None, tuple[int, ...] | None, tuple[int, ...] | None]:
    """The alert that labelled the breakage's suspects, and them when first and when last
    labelled: those of the alert's breakage that holds its jobs (the union of the alert's
    suspects for alerts that name no breakages, as the plain rule's)."""
    entries = [(a, suspects) for a in mine for keys, suspects in a.labelled if keys & b.keys]
    if entries:
        chosen = entries[0][0]
        return chosen, entries[0][1], [s for a, s in entries if a is chosen][-1]
    plain = next((a for a in mine if a.first_labelled and not a.id), None)  # the plain rule's
    if plain is None:
        return None, None, None
    return plain, plain.first_labelled, plain.final_labelled


def alerts_for(b: Breakage, alerts: list[Alert]) -> list[Alert]:
    """The alerts that a breakage accounts for (not one that recovered, in trunk order,
    before its culprit: that one was over before it began, even if the breakage's jobs
    joined it until that recovery was known)."""
    return [
        a
        for a in alerts
        if a.group == b.workflow
        and (a.recovered_at is None or a.recovered_at > b.culprit)
        and (
            any(  # one of its jobs, failing since before the fix, shown after the culprit
                key in b.keys and first < b.fix and head >= b.culprit
                for (key, first), head in a.seen.items()
            )
            or (  # (the plain rule's alerts show no jobs one by one)
                not a.seen
                and a.keys & b.keys
                and a.opened_head >= b.culprit  # (its first failure may be a flake before it)
                and min(a.first_failures, default=b.fix) < b.fix
            )
        )
    ]


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


# -- culprit confirmation ------------------------------------------------------------------


class TrunkProber:
    """Culprit confirmation's Prober on a generated trunk: the runs the App asks for start
    on the trunk as of `clock()` (the feed's current minute; the trunk's own by default)
    and join its deliveries. Every request is logged on the trunk (`Trunk.requests`), with
    the commit it concerns, the minute and what the App was told."""

    def __init__(self, trunk: Trunk, clock: Callable[[], float] | None = None) -> None:
        self.trunk = trunk
        self.clock = clock or (lambda: trunk.now)
        self.tags: dict[str, str] = {}  # tag → commit, while it exists

    @property
    def log(self) -> list[Request]:
        return self.trunk.requests

    def _refuse(self, kind: str, sha: str = "", tag: str = "") -> bool:
        self.trunk.requests.append(Request(kind, sha, self.clock(), False, tag=tag))
        return False

    async def rerun_job(self, repo: str, job_id: int) -> bool:
        if repo != self.trunk.repo:
            return self._refuse("rerun_job")
        return self.trunk.rerun_job(job_id, self.clock())

    async def rerun_failed_jobs(self, repo: str, run_id: int) -> bool:
        if repo != self.trunk.repo:
            return self._refuse("rerun_failed")
        return self.trunk.rerun_failed(run_id, self.clock())

    async def create_tag(self, repo: str, tag: str, sha: str) -> bool:
        if repo != self.trunk.repo or tag in self.tags:  # GitHub: the reference exists
            return self._refuse("tag", sha, tag)
        ok = self.trunk.tag_run(sha, tag, self.clock())
        if ok:
            self.tags[tag] = sha
        return ok

    async def delete_tag(self, repo: str, tag: str) -> None:
        sha = self.tags.pop(tag, "") if repo == self.trunk.repo else ""
        self.trunk.requests.append(Request("delete_tag", sha, self.clock(), bool(sha), tag=tag))

    async def revert(self, repo: str, sha: str) -> bool:
        """A revert PR of `sha` (counted only; the trunk does not change)."""
        ok = repo == self.trunk.repo and sha in self.trunk.index
        self.trunk.requests.append(Request("revert", sha, self.clock(), ok))
        return ok


RERUNS = ("rerun_job", "rerun_failed")
WHY = ("no alert", "range too wide", "budget spent", "wrong suspects", "unconfirmed")


def attribute(trunk: Trunk, taken: list[tuple[float, int, Decision]]) -> dict[str, list[Request]]:
    """Alert id → the requests made for it. A request goes to the alert open when it was
    made whose breakages wanted that probe; else to one whose suspects, blamelists or first
    failures hold its commit (in the rerun's workflow); else, for a rerun, to the alert
    open on its workflow. The latest decision wins a tie."""
    history: dict[str, list[tuple[float, Decision]]] = {}
    closed: dict[str, float] = {}
    for minute, _, decision in taken:
        if decision.kind is DecisionKind.CLOSE:
            closed.setdefault(decision.alert, minute)
        else:
            history.setdefault(decision.alert, []).append((minute, decision))
    found: dict[str, list[Request]] = {}
    for request in trunk.requests:
        best: tuple[int, float, str] | None = None
        for alert, decisions in history.items():
            seen = [(m, d) for m, d in decisions if m <= request.minute]
            if not seen or closed.get(alert, request.minute) < request.minute:
                continue
            rank = _relation(request, [d for _, d in seen])
            if rank >= 0 and (best is None or (rank, seen[-1][0]) > best[:2]):
                best = (rank, seen[-1][0], alert)
        if best is not None:
            found.setdefault(best[2], []).append(request)
    return found


def _relation(request: Request, decisions: list[Decision]) -> int:
    """2: a decision wanted the probe; 1: the commit is the alert's; 0: same workflow."""
    bisect = request.kind in ("tag", "delete_tag")
    for decision in decisions:
        for breakage in decision.breakages:
            if any(p.sha == request.sha and (p.kind == BISECT) == bisect for p in breakage.wanted):
                return 2
    last = decisions[-1]
    workflows = {j.key.workflow for j in last.jobs}
    if request.workflow and request.workflow not in workflows:
        return -1
    mine = set(last.suspects) | {j.first_failing_sha for j in last.jobs}
    mine |= {sha for j in last.jobs for sha in j.blamelist}
    if request.sha in mine:
        return 1
    return 0 if request.workflow else -1


@dataclass
class BreakageReport:
    """What culprit confirmation did about one real breakage."""

    breakage: Breakage
    culprit_is_head: bool  # the last commit of its push (the one whose runs a stack gets)
    alert: str = ""  # the alert that labelled (else the first that matched); "" when none
    first_labelled: tuple[int, ...] | None = None
    final_labelled: tuple[int, ...] | None = None
    reruns: int = 0  # accepted rerun requests for its alerts
    tags: int = 0  # accepted bisect tags for its alerts
    reverts: int = 0  # revert PRs for its alerts (once the App opens them)
    minutes_to_confirm: float | None = None  # from the alert's opening; None: not confirmed
    why: str = ""  # "" when the final labelled suspects are exactly the culprit; else of WHY

    @property
    def exact(self) -> bool:
        return not self.why


def breakage_reports(
    trunk: Trunk,
    alerts: list[Alert],
    taken: list[tuple[float, int, Decision]],
    max_runs: int,
) -> list[BreakageReport]:
    """One report per real breakage, from the App's alerts, decisions and requests."""
    heads = {push[-1] for push in trunk.pushes}
    requests = attribute(trunk, taken)
    reports: list[BreakageReport] = []
    for b in trunk.breakages:
        report = BreakageReport(b, b.culprit in heads)
        reports.append(report)
        mine = sorted(alerts_for(b, alerts), key=lambda a: (a.opened_head, a.opened_minute))
        if not mine:
            report.why = "no alert"
            continue
        alert, report.first_labelled, report.final_labelled = labelled_for(b, mine)
        report.alert = (alert or mine[0]).id
        asked = [r for a in mine for r in requests.get(a.id, ()) if r.ok]
        report.reruns = sum(r.kind in RERUNS for r in asked)
        report.tags = sum(r.kind == "tag" for r in asked)
        report.reverts = sum(r.kind == "revert" for r in asked)
        confirmed = [a.confirmed[b.culprit] for a in mine if b.culprit in a.confirmed]
        if confirmed:
            report.minutes_to_confirm = min(confirmed) - mine[0].opened_minute
        final = report.final_labelled
        if final == (b.culprit,):
            continue
        if report.reruns + report.tags >= max_runs:
            report.why = "budget spent"
        elif final is None:
            report.why = "range too wide"
        elif b.culprit not in final:
            report.why = "wrong suspects"
        else:
            report.why = "unconfirmed"
    return reports


@dataclass
class CulpritScore:
    breakages: int = 0
    exact_final: int = 0  # final labelled suspects exactly the culprit
    why: Counter[str] = field(default_factory=Counter)  # the rest, by reason
    runs: list[int] = field(default_factory=list)  # reruns + tags per alerted breakage
    minutes_to_confirm: list[float] = field(default_factory=list)
    confirmed: int = 0  # breakages whose true culprit was confirmed
    withdrawn_flaky: int = 0  # alerts on failures that passed on rerun, closed as flaky
    left_standing: int = 0  # such alerts not withdrawn
    wrong_confirmed: int = 0  # (alert, commit) confirmed that broke nothing it alerted on
    reverts: int = 0  # revert PRs asked for (hook: once the App opens them)
    wrong_reverts: int = 0  # of which not of a real culprit

    def add(self, other: CulpritScore) -> None:
        for name, value in vars(other).items():
            setattr(self, name, getattr(self, name) + value)


def culprit_score(trunk: Trunk, alerts: list[Alert], reports: list[BreakageReport]) -> CulpritScore:
    result = CulpritScore(breakages=len(reports))
    for report in reports:
        result.exact_final += report.exact
        if not report.exact:
            result.why[report.why] += 1
        if report.alert:
            result.runs.append(report.reruns + report.tags)
        if report.minutes_to_confirm is not None:
            result.confirmed += 1
            result.minutes_to_confirm.append(report.minutes_to_confirm)
    final = final_conclusions(trunk)
    owners: dict[int, list[Breakage]] = {}
    for b in trunk.breakages:
        for a in alerts_for(b, alerts):
            owners.setdefault(id(a), []).append(b)
    for a in alerts:
        owner = owners.get(id(a))
        theirs = {b.culprit for b in owner or ()}
        result.wrong_confirmed += sum(c not in theirs for c in a.confirmed)
        if owner is None and (a.reason is CloseReason.FLAKY or passed_on_rerun(trunk, a, final)):
            result.withdrawn_flaky += a.reason is CloseReason.FLAKY
            result.left_standing += a.reason is not CloseReason.FLAKY
    real = {trunk.shas[b.culprit] for b in trunk.breakages}
    reverts = [r for r in trunk.requests if r.kind == "revert" and r.ok]
    result.reverts = len(reverts)
    result.wrong_reverts = sum(r.sha not in real for r in reverts)
    return result


CULPRIT_HEADER = (
    "| rule, same histories | exactly the culprit when last labelled | "
    + " | ".join(WHY)
    + " | culprit confirmed | runs per breakage (median) | minutes to confirm (median) "
    "| rerun-passing alerts withdrawn / left standing | wrong culprits confirmed "
    "| revert PRs (wrong) |\n" + "|---" * (len(WHY) + 8) + "|"
)


def culprit_row(name: str, c: CulpritScore) -> str:
    """One line of the culprit table."""
    runs = f"{statistics.median(c.runs):.0f}" if c.runs else "—"
    minutes = (
        f"{statistics.median(c.minutes_to_confirm):.0f}"
        if c.minutes_to_confirm
        else "no confirmation"
    )
    why = " | ".join(str(c.why[w]) for w in WHY)
    return (
        f"| {name} | {c.exact_final}/{c.breakages} | {why} | {c.confirmed}/{c.breakages} "
        f"| {runs} | {minutes} | {c.withdrawn_flaky} / {c.left_standing} "
        f"| {c.wrong_confirmed} | {c.reverts} ({c.wrong_reverts}) |"
    )


BREAKAGE_HEADER = (
    "| culprit | fix | kind | workflow | last of its push | alert | first labelled "
    "| last labelled | exact | reruns | tags | minutes to confirm | reverts | why not |\n"
    + "|---" * 14
    + "|"
)


def breakage_table(reports: list[BreakageReport]) -> str:
    """A markdown table, one breakage a line."""

    def commits(labelled: tuple[int, ...] | None) -> str:
        return ", ".join(map(str, labelled)) if labelled else "—"

    lines = [BREAKAGE_HEADER]
    for r in reports:
        b = r.breakage
        minutes = f"{r.minutes_to_confirm:.0f}" if r.minutes_to_confirm is not None else "—"
        lines.append(
            f"| {b.culprit} | {b.fix} | {b.kind} | {b.workflow} "
            f"| {'yes' if r.culprit_is_head else 'no'} | {r.alert or '—'} "
            f"| {commits(r.first_labelled)} | {commits(r.final_labelled)} "
            f"| {'yes' if r.exact else 'no'} | {r.reruns} | {r.tags} | {minutes} "
            f"| {r.reverts} | {r.why or '—'} |"
        )
    return "\n".join(lines)
