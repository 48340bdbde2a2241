"""JSON forms of the tracker's alert types, exact on the round trip.

`x_from_json(x_to_json(v)) == v` for every value: tuples come back as tuples, None as None,
enums as enums. The forms are plain dicts and lists so that any backend can keep them (a
SQLite TEXT column, a PostgreSQL JSONB one).
"""

from __future__ import annotations

import json
from typing import Any

from bot.tracker.model import AlertState, CloseReason, FailingJob, JobKey


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


def _str_tuple(obj: dict[str, Any], name: str) -> tuple[str, ...]:
    value = _field(obj, name)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"field {name!r} is not a list of strings: {value!r}")
    return tuple(value)
