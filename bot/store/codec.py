"""JSON forms of the tracker's alert types, exact on the round trip.

`x_from_json(x_to_json(v)) == v` for every value: tuples come back as tuples, None as None,
enums as enums. The forms are plain dicts and lists so that any backend can keep them (a
SQLite TEXT column, a PostgreSQL JSONB one).
"""

from __future__ import annotations

import json
from typing import Any

from bot.tracker.model import (
    AlertState,
    Breakage,
    CloseReason,
    CulpritStatus,
    Evidence,
    FailingJob,
    JobKey,
    Probe,
)


def dumps(value: Any) -> str:
    """Compact, key-sorted JSON: the same value always gives the same text."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def job_key_to_json(key: JobKey) -> dict[str, Any]:
    return {"workflow": key.workflow, "job": key.job}


def job_key_from_json(data: Any) -> JobKey:
    obj = _object(data, "job key")
    return JobKey(workflow=_str(obj, "workflow"), job=_str(obj, "job"))


def close_reason_to_json(reason: CloseReason | None) -> str | None:
    return None if reason is None else reason.value


def close_reason_from_json(data: Any) -> CloseReason | None:
    if data is None:
        return None
    try:
        return CloseReason(data)
    except ValueError:
        raise ValueError(f"unknown close reason {data!r}") from None


def failing_job_to_json(job: FailingJob) -> dict[str, Any]:
    return {
        "key": job_key_to_json(job.key),
        "streak": job.streak,
        "first_failing_sha": job.first_failing_sha,
        "last_passing_sha": job.last_passing_sha,
        "latest_failed_url": job.latest_failed_url,
        "blamelist": list(job.blamelist),
        "pending": list(job.pending),
    }


def failing_job_from_json(data: Any) -> FailingJob:
    obj = _object(data, "failing job")
    return FailingJob(
        key=job_key_from_json(obj.get("key")),
        streak=_int(obj, "streak"),
        first_failing_sha=_str(obj, "first_failing_sha"),
        last_passing_sha=_optional_str(obj, "last_passing_sha"),
        latest_failed_url=_str(obj, "latest_failed_url"),
        blamelist=_str_tuple(obj, "blamelist"),
        pending=_str_tuple(obj, "pending") if "pending" in obj else (),
    )


def probe_to_json(probe: Probe) -> dict[str, Any]:
    return {
        "kind": probe.kind,
        "sha": probe.sha,
        "workflow": probe.workflow,
        "job": probe.job,
        "job_id": probe.job_id,
        "run_id": probe.run_id,
    }


def probe_from_json(data: Any) -> Probe:
    obj = _object(data, "probe")
    return Probe(
        kind=_str(obj, "kind"),
        sha=_str(obj, "sha"),
        workflow=_str(obj, "workflow"),
        job=_str(obj, "job"),
        job_id=_int(obj, "job_id"),
        run_id=_int(obj, "run_id"),
    )


def breakage_to_json(breakage: Breakage) -> dict[str, Any]:
    return {
        "jobs": [job_key_to_json(key) for key in breakage.jobs],
        "suspects": list(breakage.suspects),
        "first_failure": breakage.first_failure,
        "suspects_known": breakage.suspects_known,
        "status": breakage.status.value,
        "culprit": breakage.culprit,
        "evidence": [
            {
                "sha": e.sha,
                "key": job_key_to_json(e.key),
                "conclusions": list(e.conclusions),
                "url": e.url,
            }
            for e in breakage.evidence
        ],
        "wanted": [probe_to_json(probe) for probe in breakage.wanted],
    }


def breakage_from_json(data: Any) -> Breakage:
    obj = _object(data, "breakage")
    evidence = []
    for item in _list(obj, "evidence"):
        e = _object(item, "evidence")
        evidence.append(
            Evidence(
                sha=_str(e, "sha"),
                key=job_key_from_json(e.get("key")),
                conclusions=_str_tuple(e, "conclusions"),
                url=_str(e, "url"),
            )
        )
    try:
        status = CulpritStatus(obj.get("status"))
    except ValueError:
        raise ValueError(f"unknown culprit status {obj.get('status')!r}") from None
    return Breakage(
        jobs=tuple(job_key_from_json(key) for key in _list(obj, "jobs")),
        suspects=_str_tuple(obj, "suspects"),
        first_failure=_str(obj, "first_failure"),
        suspects_known=_bool(obj, "suspects_known"),
        status=status,
        culprit=_optional_str(obj, "culprit"),
        evidence=tuple(evidence),
        wanted=tuple(probe_from_json(probe) for probe in _list(obj, "wanted")),
    )


def alert_to_json(alert: AlertState) -> dict[str, Any]:
    return {
        "alert": alert.alert,
        "repo": alert.repo,
        "branch": alert.branch,
        "group": alert.group,
        "seq": alert.seq,
        "open": alert.open,
        "opened_at": alert.opened_at,
        "closed_at": alert.closed_at,
        "reason": close_reason_to_json(alert.reason),
        "jobs": [failing_job_to_json(job) for job in alert.jobs],
        "streak": alert.streak,
        "suspects": list(alert.suspects),
        "suspects_known": alert.suspects_known,
        "last_green": alert.last_green,
        "pending": list(alert.pending),
        "provisional": alert.provisional,
        "opened_time": alert.opened_time,
        "breakages": [breakage_to_json(b) for b in alert.breakages],
    }


def alert_from_json(data: Any) -> AlertState:
    obj = _object(data, "alert")
    jobs = obj.get("jobs", [])
    if not isinstance(jobs, list):
        raise ValueError("alert field 'jobs' is not a list")
    return AlertState(
        alert=_str(obj, "alert"),
        repo=_str(obj, "repo"),
        branch=_str(obj, "branch"),
        group=_str(obj, "group"),
        seq=_int(obj, "seq"),
        open=_bool(obj, "open"),
        opened_at=_str(obj, "opened_at"),
        closed_at=_optional_str(obj, "closed_at"),
        reason=close_reason_from_json(obj.get("reason")),
        jobs=tuple(failing_job_from_json(job) for job in jobs),
        streak=_int(obj, "streak"),
        suspects=_str_tuple(obj, "suspects"),
        suspects_known=_bool(obj, "suspects_known"),
        last_green=_optional_str(obj, "last_green"),
        # Alerts stored before pending results were tracked have none of these.
        pending=_str_tuple(obj, "pending") if "pending" in obj else (),
        provisional=_bool(obj, "provisional") if "provisional" in obj else False,
        opened_time=float(obj.get("opened_time") or 0.0),
        breakages=tuple(breakage_from_json(b) for b in obj.get("breakages") or ()),
    )


def _object(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError(f"{what} is not a JSON object: {data!r}")
    return data


def _field(obj: dict[str, Any], name: str) -> Any:
    try:
        return obj[name]
    except KeyError:
        raise ValueError(f"missing field {name!r}") from None


def _str(obj: dict[str, Any], name: str) -> str:
    value = _field(obj, name)
    if not isinstance(value, str):
        raise ValueError(f"field {name!r} is not a string: {value!r}")
    return value


def _optional_str(obj: dict[str, Any], name: str) -> str | None:
    return None if obj.get(name) is None else _str(obj, name)


def _int(obj: dict[str, Any], name: str) -> int:
    value = _field(obj, name)
    # bool is an int to Python but never one of our counters.
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"field {name!r} is not an integer: {value!r}")
    return value


def _bool(obj: dict[str, Any], name: str) -> bool:
    value = _field(obj, name)
    if not isinstance(value, bool):
        raise ValueError(f"field {name!r} is not a boolean: {value!r}")
    return value


def _list(obj: dict[str, Any], name: str) -> list[Any]:
    value = obj.get(name, [])
    if not isinstance(value, list):
        raise ValueError(f"field {name!r} is not a list")
    return value


def _str_tuple(obj: dict[str, Any], name: str) -> tuple[str, ...]:
    value = _field(obj, name)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"field {name!r} is not a list of strings: {value!r}")
    return tuple(value)
