"""The dry-run sink: prints each action the App would take instead of taking it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import IO, Any, Protocol

from gidgethub.abc import GitHubAPI

from bot.tracker.model import Decision, DecisionKind


def action_record(decision: Decision, delivery_id: str = "") -> dict[str, Any]:
    """The replay interface's JSON form of a decision (see README, "replay")."""
    record: dict[str, Any] = {
        "action": decision.kind.value,
        "repo": decision.repo,
        "branch": decision.branch,
        "group": decision.group,
        "alert": decision.alert,
        "at": decision.at,
        "delivery_id": decision.delivery_id or delivery_id,
    }
    if decision.kind in (DecisionKind.OPEN, DecisionKind.UPDATE):
        record["jobs"] = [str(job.key) for job in decision.jobs]
        record["streak"] = decision.streak
        record["streaks"] = {str(job.key): job.streak for job in decision.jobs}
        record["suspects"] = list(decision.suspects)
        record["suspects_known"] = decision.suspects_known
        record["last_green"] = decision.last_green
        if decision.pending:  # the suspects' commits still running: why they may narrow
            record["pending"] = list(decision.pending)
            record["provisional"] = decision.provisional
        record["breakages"] = [
            {
                "jobs": [str(key) for key in b.jobs],
                "suspects": list(b.suspects),
                "first_failure": b.first_failure,
                "culprit": b.culprit,
                "status": b.status.value,
                "wanted": [
                    {"kind": w.kind, "sha": w.sha, "workflow": w.workflow} for w in b.wanted
                ],
            }
            for b in decision.breakages
        ]
    if decision.kind is DecisionKind.UPDATE:
        record["changed"] = list(decision.changed)
    if decision.kind is DecisionKind.CLOSE:
        record["reason"] = decision.reason.value if decision.reason else None
        if decision.recovered_by:
            record["recovered_by"] = decision.recovered_by
        if decision.flaky_reruns:
            record["flaky_reruns"] = list(decision.flaky_reruns)
    return record


def describe(record: dict[str, Any]) -> str:
    """One readable line for a person watching a replay."""
    head = f"{record['action']:<13} {record['repo']} {record['branch']} [{record['group']}]"
    short = record["at"][:10]
    if record["action"] == "close_alert":
        extra = f" by {record['recovered_by'][:10]}" if record.get("recovered_by") else ""
        return f"{head} {record['reason']}{extra} (at {short})"
    suspects = ", ".join(s[:10] for s in record["suspects"]) or "unknown"
    if not record["suspects_known"]:
        suspects += " (no passing commit known)"
    if record.get("pending"):
        running = ", ".join(s[:10] for s in record["pending"])
        suspects += f" (still running: {running})"
    jobs = "; ".join(f"{job} x{record['streaks'][job]}" for job in record["jobs"])
    return f"{head} streak {record['streak']} at {short}: {jobs} — suspects: {suspects}"


class Delivered(Protocol):
    """What the dry run needs of the engine's `Unit`: the delivery it is the work of."""

    @property
    def delivery_id(self) -> str: ...


class DryRunSink:
    """Writes each decision as a replay action line, JSON or readable."""

    def __init__(self, out: IO[str], as_json: bool) -> None:
        self._out = out
        self._json = as_json
        self.records: list[dict[str, Any]] = []

    async def act(
        self,
        decisions: Sequence[Decision],
        gh: GitHubAPI | None,
        config: object,
        unit: Delivered,
    ) -> None:
        for decision in decisions:
            record = action_record(decision, unit.delivery_id)
            self.records.append(record)
            line = json.dumps(record, sort_keys=True) if self._json else describe(record)
            self._out.write(line + "\n")
        self._out.flush()
