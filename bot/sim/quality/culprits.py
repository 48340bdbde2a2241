"""Culprit confirmation scored per real breakage: suspects labelled, runs asked, time to confirm."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field

from bot.sim.quality.alerts import Alert, alerts_for, labelled_for, named_at_the_end
from bot.sim.quality.scores import final_conclusions, passed_on_rerun
from bot.sim.trunksim import Breakage, Request, Trunk
from bot.tracker.model import BISECT, CloseReason, Decision, DecisionKind

RERUNS = ("rerun_job", "rerun_failed")
WHY = (
    "no alert",
    "range too wide",
    "budget spent",
    "wrong suspects",
    "confirmed after the recovery",
    "unconfirmed",
)


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
    confirmed_open: bool = False  # confirmed while its alert was open (a revert may follow)
    why: str = ""  # "" when the final labelled suspects are exactly the culprit; else of WHY
    named_exact: bool = False  # the alert names exactly the culprit at the end (closed or not)

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
        report.named_exact = named_at_the_end(b, [alert or mine[0], *mine]) == (b.culprit,)
        report.alert = (alert or mine[0]).id
        asked = [r for a in mine for r in requests.get(a.id, ()) if r.ok]
        report.reruns = sum(r.kind in RERUNS for r in asked)
        report.tags = sum(r.kind == "tag" for r in asked)
        report.reverts = sum(r.kind == "revert" for r in asked)
        confirmed = [a.confirmed[b.culprit] for a in mine if b.culprit in a.confirmed]
        if confirmed:
            report.minutes_to_confirm = min(confirmed) - mine[0].opened_minute
        report.confirmed_open = any(b.culprit in a.confirmed_open for a in mine)
        final = report.final_labelled
        if final == (b.culprit,):
            continue
        if report.reruns + report.tags >= max_runs:
            report.why = "budget spent"
        elif final is None:
            report.why = "range too wide"
        elif b.culprit not in final:
            report.why = "wrong suspects"
        elif report.minutes_to_confirm is not None and not report.confirmed_open:
            report.why = "confirmed after the recovery"  # (its fix was in before the runs told)
        else:
            report.why = "unconfirmed"
    return reports


@dataclass
class CulpritScore:
    breakages: int = 0
    exact_final: int = 0  # final labelled suspects exactly the culprit
    named_exact: int = 0  # the issue names exactly the culprit at the end
    why: Counter[str] = field(default_factory=Counter)  # the rest, by reason
    runs: list[int] = field(default_factory=list)  # reruns + tags per alerted breakage
    minutes_to_confirm: list[float] = field(default_factory=list)
    confirmed: int = 0  # breakages whose true culprit was confirmed
    withdrawn_flaky: int = 0  # alerts on failures that passed on rerun, closed as flaky
    left_standing: int = 0  # such alerts not withdrawn
    wrong_confirmed: int = 0  # (alert, commit) confirmed that broke nothing it alerted on
    reverts: int = 0  # revert PRs opened (`culprit.revert: auto`)
    wrong_reverts: int = 0  # of which not of a real culprit
    reverted: int = 0  # breakages whose culprit, confirmed while red, got a revert PR
    confirmed_open: int = 0  # breakages whose culprit was confirmed while its alert was open

    def add(self, other: CulpritScore) -> None:
        for name, value in vars(other).items():
            setattr(self, name, getattr(self, name) + value)


def showed_failing(a: Alert, b: Breakage) -> bool:
    """Whether the alert showed one of the breakage's jobs failing from its culprit on: its
    culprit, confirmed there, is no wrong one, even when the alert does not account for the
    breakage (it recovered, in trunk order, before the culprit, and the breakage's jobs
    joined it until that recovery was known)."""
    return a.group == b.workflow and any(
        key in b.keys and b.culprit <= first < b.fix for key, first in a.seen
    )


def culprit_score(trunk: Trunk, alerts: list[Alert], reports: list[BreakageReport]) -> CulpritScore:
    result = CulpritScore(breakages=len(reports))
    for report in reports:
        result.exact_final += report.exact
        result.named_exact += report.named_exact
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
        theirs = {b.culprit for b in owner or ()} | {
            b.culprit for b in trunk.breakages if showed_failing(a, b)
        }
        result.wrong_confirmed += sum(c not in theirs for c in a.confirmed)
        if owner is None and (a.reason is CloseReason.FLAKY or passed_on_rerun(trunk, a, final)):
            result.withdrawn_flaky += a.reason is CloseReason.FLAKY
            result.left_standing += a.reason is not CloseReason.FLAKY
    real = {trunk.shas[b.culprit] for b in trunk.breakages}
    reverts = [r for r in trunk.requests if r.kind == "revert" and r.ok]
    result.reverts = len(reverts)
    result.wrong_reverts = sum(r.sha not in real for r in reverts)
    shas = {r.sha for r in reverts}
    result.confirmed_open = sum(r.confirmed_open for r in reports)
    result.reverted = sum(
        r.confirmed_open and trunk.shas[r.breakage.culprit] in shas for r in reports
    )
    return result


CULPRIT_HEADER = (
    "| rule, same histories | exactly the culprit when last labelled "
    "| exactly the culprit named at the end | "
    + " | ".join(WHY)
    + " | culprit confirmed | runs per breakage (median) | minutes to confirm (median) "
    "| rerun-passing alerts withdrawn / left standing | wrong culprits confirmed "
    "| revert PRs (wrong) | culprits confirmed while red, reverted |\n"
    + "|---" * (len(WHY) + 10)
    + "|"
)


def culprit_row(name: str, c: CulpritScore) -> str:
    """One line of the culprit table."""
    runs = f"{statistics.median(c.runs):g}" if c.runs else "—"  # (3.5: not rounded to 4)
    minutes = (
        f"{statistics.median(c.minutes_to_confirm):.0f}"
        if c.minutes_to_confirm
        else "no confirmation"
    )
    why = " | ".join(str(c.why[w]) for w in WHY)
    return (
        f"| {name} | {c.exact_final}/{c.breakages} | {c.named_exact}/{c.breakages} | {why} "
        f"| {c.confirmed}/{c.breakages} "
        f"| {runs} | {minutes} | {c.withdrawn_flaky} / {c.left_standing} "
        f"| {c.wrong_confirmed} | {c.reverts} ({c.wrong_reverts}) "
        f"| {c.reverted}/{c.confirmed_open} |"
    )


BREAKAGE_HEADER = (
    "| culprit | fix | kind | workflow | last of its push | alert | first labelled "
    "| last labelled | exact | named at the end | reruns | tags | minutes to confirm | reverts "
    "| why not |\n" + "|---" * 15 + "|"
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
            f"| {'yes' if r.exact else 'no'} | {'yes' if r.named_exact else 'no'} "
            f"| {r.reruns} | {r.tags} | {minutes} "
            f"| {r.reverts} | {r.why or '—'} |"
        )
    return "\n".join(lines)
