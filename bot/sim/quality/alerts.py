"""The App's alerts as the on-call engineer saw them, and the real breakage each accounts for."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.sim.trunksim import Breakage, Trunk
from bot.tracker.model import CloseReason, CulpritStatus, Decision, DecisionKind


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
    confirmed_open: set[int] = field(default_factory=set)  # of those, while it was open
    id: str = ""
    recovered_at: int | None = None  # the commit it recovered at, when it did
    # Each time one of its breakages was labelled: (that breakage's job keys, its suspects).
    labelled: list[tuple[frozenset[str], tuple[int, ...]]] = field(default_factory=list)
    labelled_at: list[float] = field(default_factory=list)  # the minute of each of those
    # Its breakages as its latest decision (a late CLOSE included) named them: the top.
    named: list[tuple[frozenset[str], tuple[int, ...]]] = field(default_factory=list)
    # Each (job key, its first failure) it showed, with the newest commit pushed then.
    seen: dict[tuple[str, int], int] = field(default_factory=dict)


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
        if decision.breakages:
            alert.named = [
                (frozenset(map(str, b.jobs)), tuple(index[x] for x in b.suspects if x in index))
                for b in decision.breakages
            ]
        for breakage in decision.breakages:  # (a closed alert's too: its issue says it)
            if breakage.status is CulpritStatus.CONFIRMED and breakage.culprit in index:
                alert.confirmed.setdefault(index[breakage.culprit], minute)
                if decision.kind is not DecisionKind.CLOSE:
                    alert.confirmed_open.add(index[breakage.culprit])
        if decision.kind is DecisionKind.CLOSE:
            alert.reason = decision.reason
            if decision.recovered_by in index and alert.recovered_at is None:
                alert.recovered_at = index[decision.recovered_by or ""]
            continue
        if not decision.provisional:  # (each breakage labels its own, within max_prs)
            parts = [(frozenset(map(str, b.jobs)), b.suspects, b.suspects_known)
                     for b in decision.breakages]  # fmt: skip
            if not parts:  # (decisions that name no breakages: the alert's as one)
                keys = frozenset(str(j.key) for j in decision.jobs)
                parts = [(keys, decision.suspects, decision.suspects_known)]
            entries = [
                (keys, tuple(index[s] for s in suspects))
                for keys, suspects, known in parts
                if known and 0 < len(suspects) <= max_prs
            ]
            alert.labelled += entries
            alert.labelled_at += [minute] * len(entries)
        labelled = decision.suspects_known and not decision.provisional
        if labelled and 0 < len(decision.suspects) <= max_prs:
            alert.final_labelled = tuple(index[s] for s in decision.suspects)
            if alert.first_labelled is None:
                alert.first_labelled = alert.final_labelled
    return list(alerts.values())


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


def named_at_the_end(b: Breakage, mine: list[Alert]) -> tuple[int, ...] | None:
    """The suspects the breakage's alert named last (what its issue says at the top, closed
    or not), of its breakage that holds the real breakage's jobs."""
    for a in mine:
        for keys, suspects in a.named:
            if keys & b.keys:
                return suspects
    return None


def first_labelled_at(b: Breakage, mine: list[Alert]) -> float | None:
    """The minute the breakage's suspects were first labelled (None: never, or the plain
    rule's, which labels with hindsight)."""
    for a in mine:
        for (keys, _), minute in zip(a.labelled, a.labelled_at, strict=True):
            if keys & b.keys:
                return minute
    return None


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
