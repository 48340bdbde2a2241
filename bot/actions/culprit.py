"""Asking for the runs that find a breakage's culprit: reruns and bisect tags.

The tracker says, per breakage of an alert, which runs it wants (`Breakage.wanted`, most
useful first): a RERUN of the failing job at its first failure, BISECT runs of the
workflow on commits of the blamelist where the job never ran. This module asks GitHub for
each wanted run not asked for yet, within the repository's budget (`culprit.max_runs` per
alert); a rerun asked for less than `STALL_SECONDS` ago holds what follows it (its result
is on its way). A bisection run is not started when it would spend the last run of the
budget, which the confirmation rerun needs.

Each request is recorded (`CulpritRun`) in its own transaction before it is made, so it
is made once across redeliveries, crashes and replicas, and the alert issue lists them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import gidgethub
from gidgethub.abc import GitHubAPI

from bot.actions.book import RecordBook
from bot.github import ci
from bot.records import AlertIssue, CulpritRun
from bot.tracker.model import (
    BISECT,
    RERUN,
    CloseReason,
    CulpritStatus,
    Decision,
    DecisionKind,
    Probe,
    bisect_tag,
)

log = logging.getLogger(__name__)

FAILED = ("failure", "timed_out")
STALL_SECONDS = 15 * 60.0
# A refused rerun (its workflow run still running) is asked again this long after, this
# many times at most: a run takes up to hours, and GitHub reruns only finished runs.
RETRY_REFUSED_SECONDS = 10 * 60.0
MAX_REFUSALS = 12  # a requested run whose results never showed up stops blocking


class Prober(Protocol):
    """Where runs are asked for: GitHub (`GitHubProber`), or a generated trunk."""

    async def rerun_job(self, repo: str, job_id: int) -> bool: ...

    async def rerun_failed_jobs(self, repo: str, run_id: int) -> bool: ...

    async def create_tag(self, repo: str, tag: str, sha: str, existing_ok: bool = True) -> bool: ...

    async def delete_tag(self, repo: str, tag: str) -> None: ...


class GitHubProber:
    """Runs asked for on GitHub, through an installation's client."""

    def __init__(self, gh: GitHubAPI) -> None:
        self.gh = gh

    async def rerun_job(self, repo: str, job_id: int) -> bool:
        return await ci.rerun_job(self.gh, repo, job_id)

    async def rerun_failed_jobs(self, repo: str, run_id: int) -> bool:
        return await ci.rerun_failed_jobs(self.gh, repo, run_id)

    async def create_tag(self, repo: str, tag: str, sha: str, existing_ok: bool = True) -> bool:
        return await ci.create_tag(self.gh, repo, tag, sha, existing_ok)

    async def delete_tag(self, repo: str, tag: str) -> None:
        await ci.delete_tag(self.gh, repo, tag)


@dataclass(frozen=True)
class ProbeSettings:
    """The `culprit:` settings that bound the runs."""

    max_runs: int = 6
    confirm: bool = True
    tag_pattern: str | None = "trunkwatch/bisect/{sha}"  # None: bisection off

    def tag_for(self, sha: str) -> str | None:
        return bisect_tag(self.tag_pattern, sha)


async def request_probes(
    decisions: Sequence[Decision],
    prober: Prober,
    records: RecordBook,
    settings: ProbeSettings,
    now: float,
) -> list[CulpritRun]:
    """Ask for the runs the decisions' breakages want; the requests made."""
    made: list[CulpritRun] = []
    for decision in decisions:
        if not decision.breakages:
            continue
        if decision.kind is DecisionKind.CLOSE and decision.reason is not CloseReason.RECOVERED:
            continue  # (a recovered alert may still want its rerun: chance failures or not)
        made += await _for_alert(decision, prober, records, settings, now)
    return made


async def confirmation_outstanding(
    decision: Decision, records: RecordBook, settings: ProbeSettings, now: float
) -> bool:
    """Whether a confirmation rerun of the alert is still to come: wanted and within the
    budget, or asked for and not reported yet (its commit still pending). What
    `culprit.confirm_before_filing` waits for before an alert is filed."""
    if not settings.confirm:
        return False
    if not decision.jobs:
        return True  # a rerun interrupts its streak: what it says is still to come
    runs = await records.find(CulpritRun, alert=decision.alert)
    used = sum(1 for run in runs if run.outcome == "requested")
    for breakage in decision.breakages:
        if breakage.status is CulpritStatus.CONFIRMED:
            continue
        first = next((e for e in breakage.evidence if e.sha == breakage.first_failure), None)
        if first is None or sum(c in FAILED for c in first.conclusions) != 1:
            continue  # failed twice there (or not known to have failed): nothing to confirm
        mine = [r for r in runs if r.kind == RERUN and r.sha == breakage.first_failure]
        if not mine and used < settings.max_runs:
            return True  # it will be asked for (now, or once the bisection is done)
        if any(r.outcome == "requested" and now - r.at < STALL_SECONDS for r in mine):
            return True
        if any(r.outcome != "requested" and r.refusals < MAX_REFUSALS for r in mine):
            return True  # refused while its run still ran: asked again later
    return any(
        run.kind == RERUN and run.outcome == "requested" and run.sha in decision.pending
        for run in runs
    )


async def _for_alert(
    decision: Decision, prober: Prober, records: RecordBook, settings: ProbeSettings, now: float
) -> list[CulpritRun]:
    asked = {run.probe: run for run in await records.find(CulpritRun, alert=decision.alert)}
    used = sum(1 for run in asked.values() if run.outcome == "requested")
    made: list[CulpritRun] = []
    for breakage in decision.breakages:
        while (probe := _next(breakage.wanted, asked, settings, used, now)) is not None:
            before = asked.get(probe.id)
            refusals = before.refusals if before is not None else 0
            run = await _request(decision, probe, prober, records, settings, now, refusals)
            if _through_tag(decision, probe, run, settings):
                run = await _request(
                    decision, probe, prober, records, settings, now, refusals, by_tag=True
                )
            asked[run.probe] = run
            made.append(run)
            used += run.outcome == "requested"
    return made


def _next(
    wanted: Sequence[Probe],
    asked: dict[str, CulpritRun],
    settings: ProbeSettings,
    used: int,
    now: float,
) -> Probe | None:
    """The run to ask for now, if any."""
    left = settings.max_runs - used
    if left <= 0:
        return None
    for probe in wanted:
        if probe.kind == BISECT and settings.tag_for(probe.sha) is None:
            continue
        if probe.kind == RERUN and not settings.confirm:
            continue
        run = asked.get(probe.id)
        if run is not None:
            if probe.kind == RERUN and run.outcome == "requested" and now - run.at < STALL_SECONDS:
                return None  # its result is on its way
            if not _retry(probe, run, now):
                continue
        if probe.kind == BISECT and settings.confirm and left < 2:
            continue  # keep the last run for the confirmation
        return probe
    return None


def _through_tag(
    decision: Decision, probe: Probe, run: CulpritRun, settings: ProbeSettings
) -> bool:
    """Whether a rerun GitHub refused (its workflow run still runs, or is too old) is asked
    through the bisect tag instead: a new run of the workflow on the same commit, whose
    result for the job is as good as a second attempt. For an open alert only (a recovered
    one waits for the rerun: it withdraws or not, and the fix is in), and only when no run
    on that tag is going (GitHub refuses a tag that exists: the rerun is asked again)."""
    return (
        probe.kind == RERUN
        and run.outcome != "requested"
        and decision.kind is not DecisionKind.CLOSE
        and settings.tag_for(probe.sha) is not None
    )


def _retry(probe: Probe, run: CulpritRun, now: float) -> bool:
    """Whether a refused rerun is asked again now."""
    return (
        probe.kind == RERUN
        and run.outcome != "requested"
        and run.refusals < MAX_REFUSALS
        and now - run.at >= RETRY_REFUSED_SECONDS
    )


async def _request(
    decision: Decision | CulpritRun,
    probe: Probe,
    prober: Prober,
    records: RecordBook,
    settings: ProbeSettings,
    now: float,
    refusals: int = 0,
    by_tag: bool = False,
) -> CulpritRun:
    tag = settings.tag_for(probe.sha) if probe.kind == BISECT or by_tag else None
    run = CulpritRun(
        alert=decision.alert,
        probe=probe.id,
        repo=decision.repo,
        kind=probe.kind,
        sha=probe.sha,
        workflow=probe.workflow,
        job=probe.job,
        job_id=probe.job_id,
        run_id=probe.run_id,
        tag=tag or "",
        at=now,
        refusals=refusals,
    )
    claim = records.at_once()  # committed before the request: it is made once
    await claim.put(run)
    why = "refused"
    try:
        if tag is not None:
            ok = await prober.create_tag(decision.repo, tag, probe.sha, existing_ok=not by_tag)
        elif probe.job_id:
            ok = await prober.rerun_job(decision.repo, probe.job_id)
        else:
            ok = await prober.rerun_failed_jobs(decision.repo, probe.run_id)
    except gidgethub.BadRequest as exc:  # a 4xx: the job is gone, a permission missing…
        ok, why = False, f"refused: {exc.status_code} {str(exc)[:80]}"
    except BaseException:  # a 5xx after the client's retries, a crash: the delivery retries
        await claim.remove(CulpritRun, run.alert, run.probe)
        raise
    if not ok:
        run.outcome, run.refusals = why, refusals + 1
        await claim.put(run)
    log.info(
        "culprit run requested" if ok else "culprit run refused",
        extra={"alert": run.alert, "kind": run.kind, "sha": run.sha, "workflow": run.workflow},
    )
    return run


# --- refused reruns of alerts that decide nothing more ---------------------------------------

RETRY_SWEEP_SECONDS = 60.0  # how often `retry_refused` runs (the lease it holds meanwhile)
ProberFor = Callable[[str], Awaitable[Prober | None]]  # repository → where to ask, if anywhere


async def retry_refused(
    records: RecordBook, prober_for: ProberFor, now: float, holder: str
) -> list[CulpritRun]:
    """Ask again the confirmation reruns GitHub refused (their workflow run still ran) for
    alerts whose issue is closed: an open alert's are asked again on its next decision, a
    closed one gets none, and only its rerun can still withdraw it as chance failures. One
    replica sweeps at a time (a lease); the runs asked again."""
    store = records.store
    if not await store.take_lease("culprit-retries", holder, now, RETRY_SWEEP_SECONDS):
        return []
    made: list[CulpritRun] = []
    for run in await records.find(CulpritRun):
        probe = Probe(RERUN, run.sha, run.workflow, run.job, run.job_id, run.run_id)
        if run.kind != RERUN or not _retry(probe, run, now):
            continue
        issue = await records.get(AlertIssue, run.alert)
        if issue is None or issue.state == "open":
            continue  # never filed, or open: its own decisions ask again
        prober = await prober_for(run.repo)
        if prober is None:
            continue
        try:
            made.append(
                await _request(run, probe, prober, records, ProbeSettings(), now, run.refusals)
            )
        except Exception as exc:  # GitHub unreachable: keep the refusal, try at the next sweep
            await records.at_once().put(run)
            log.warning(
                "culprit rerun not asked again", extra={"alert": run.alert, "error": str(exc)}
            )
    return made
