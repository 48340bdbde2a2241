"""The SQLite store's statements, and conversions between its rows and the App's types.

Pure functions of a connection on the store thread; the transactions around them are the
store's business.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any, Protocol

from bot.store import codec
from bot.store.base import Changes, Delivery, DeliveryStatus, Installation, StoredCommit, StoreError
from bot.store.schema import OPEN_STATUSES
from bot.tracker.model import AlertState, CommitInfo, JobResult


class NamedRow(Protocol):
    """A row read by column name: sqlite3.Row, and asyncpg's Record."""

    def __getitem__(self, name: str, /) -> Any: ...


DELIVERY_COLUMNS = (
    "delivery_id, event, repo, installation_id, body, received_at, attempts, status, last_error"
)

INSERT_DELIVERY = f"""
    INSERT INTO deliveries ({DELIVERY_COLUMNS}, seq)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM deliveries))
    ON CONFLICT (delivery_id) DO NOTHING
"""

SELECT_RESULTS = (
    "SELECT repo, branch, head_sha, workflow, job, run_id, run_attempt, conclusion,"
    " job_id, url, completed_at, delivery_id, status, started_at, infra, runner"
    " FROM job_results"
)

SELECT_ALERTS = (
    "SELECT alert, repo, branch, group_name, seq, open, opened_at, closed_at, reason,"
    " details FROM alerts"
)

# The oldest open delivery that is ready (pending and due, or its lease expired) and is the
# oldest open one of its repository; deliveries without a repository do not wait on each other.
# Only each repository's head is looked at: the recursive part skips from one repository to
# the next through the partial index of open deliveries, so a backlog of thousands behind a
# head that is being processed costs nothing (a claim is O(repositories · log n)).
CLAIM = f"""
    WITH RECURSIVE repos(repo) AS (
        SELECT MIN(repo) FROM deliveries INDEXED BY deliveries_open_by_repo
        WHERE status IN {OPEN_STATUSES} AND repo > ''
        UNION ALL
        SELECT (SELECT MIN(repo) FROM deliveries INDEXED BY deliveries_open_by_repo
                WHERE status IN {OPEN_STATUSES} AND repo > repos.repo)
        FROM repos WHERE repos.repo IS NOT NULL
    ),
    heads(seq) AS (
        SELECT (SELECT MIN(seq) FROM deliveries INDEXED BY deliveries_open_by_repo
                WHERE repo = repos.repo AND status IN {OPEN_STATUSES})
        FROM repos WHERE repos.repo IS NOT NULL
    ),
    candidates AS (
        SELECT d.* FROM heads JOIN deliveries AS d ON d.seq = heads.seq
        UNION ALL
        SELECT * FROM (
            SELECT * FROM deliveries AS d
            WHERE d.repo = '' AND d.status IN {OPEN_STATUSES}
              AND CASE d.status WHEN 'pending' THEN d.next_attempt_at <= :now
                                ELSE d.lease_until <= :now END
            ORDER BY d.seq LIMIT 1)
    )
    SELECT {DELIVERY_COLUMNS} FROM candidates AS d
    WHERE CASE d.status WHEN 'pending' THEN d.next_attempt_at <= :now
                        ELSE d.lease_until <= :now END
    ORDER BY d.seq
    LIMIT 1
"""

_UPSERT_COMMIT = """
    INSERT INTO commits (repo, branch, sha, parent, message, author, timestamp, url, seq)
    VALUES (:repo, :branch, :sha, :parent, :message, :author, :timestamp, :url,
            (SELECT COALESCE(MAX(seq), 0) + 1 FROM commits WHERE repo = :repo))
    ON CONFLICT (repo, branch, sha) DO UPDATE SET
        parent = COALESCE(excluded.parent, commits.parent),
        message = CASE WHEN excluded.message = '' THEN commits.message ELSE excluded.message END,
        author = CASE WHEN excluded.author = '' THEN commits.author ELSE excluded.author END,
        timestamp = CASE WHEN excluded.timestamp = '' THEN commits.timestamp
                         ELSE excluded.timestamp END,
        url = CASE WHEN excluded.url = '' THEN commits.url ELSE excluded.url END
"""

_UPSERT_RESULT = """
    INSERT INTO job_results (repo, branch, head_sha, workflow, job, run_id, run_attempt,
                             conclusion, job_id, url, completed_at, delivery_id,
                             status, started_at, infra, runner, seq)
    VALUES (:repo, :branch, :head_sha, :workflow, :job, :run_id, :run_attempt,
            :conclusion, :job_id, :url, :completed_at, :delivery_id,
            :status, :started_at, :infra, :runner,
            (SELECT COALESCE(MAX(seq), 0) + 1 FROM job_results WHERE repo = :repo))
    ON CONFLICT (repo, run_id, run_attempt, job, job_id) DO UPDATE SET
        branch = excluded.branch, head_sha = excluded.head_sha, workflow = excluded.workflow,
        conclusion = excluded.conclusion, url = excluded.url,
        completed_at = excluded.completed_at, delivery_id = excluded.delivery_id,
        status = excluded.status, started_at = excluded.started_at,
        infra = excluded.infra, runner = excluded.runner
    -- an attempt announced after its completion arrived stays completed
    WHERE job_results.status <> 'completed' OR excluded.status = 'completed'
"""

_ALERT_COLUMNS = ("alert", "repo", "branch", "group", "seq", "open", "opened_at", "closed_at")

_UPSERT_ALERT = """
    INSERT INTO alerts (alert, repo, branch, group_name, seq, open, opened_at, closed_at,
                        reason, details)
    VALUES (:alert, :repo, :branch, :group, :seq, :open, :opened_at, :closed_at,
            :reason, :details)
    ON CONFLICT (alert) DO UPDATE SET
        repo = excluded.repo, branch = excluded.branch, group_name = excluded.group_name,
        seq = excluded.seq, open = excluded.open, opened_at = excluded.opened_at,
        closed_at = excluded.closed_at, reason = excluded.reason, details = excluded.details
"""


def insert_delivery(conn: sqlite3.Connection, delivery: Delivery) -> bool:
    cursor = conn.execute(
        INSERT_DELIVERY,
        (
            delivery.delivery_id,
            delivery.event,
            delivery.repo,
            delivery.installation_id,
            delivery.body,
            delivery.received_at,
            delivery.attempts,
            delivery.status.value,
            delivery.last_error,
        ),
    )
    return cursor.rowcount == 1


def write_changes(conn: sqlite3.Connection, changes: Changes) -> None:
    for stored in changes.commits:
        commit = stored.commit
        conn.execute(
            _UPSERT_COMMIT,
            {
                "repo": stored.repo,
                "branch": stored.branch,
                "sha": commit.sha,
                "parent": stored.parent,
                "message": commit.message,
                "author": commit.author,
                "timestamp": commit.timestamp,
                "url": commit.url,
            },
        )
    for result in changes.results:
        conn.execute(
            _UPSERT_RESULT,
            {
                "repo": result.repo,
                "branch": result.branch,
                "head_sha": result.head_sha,
                "workflow": result.workflow,
                "job": result.job,
                "run_id": result.run_id,
                "run_attempt": result.run_attempt,
                "conclusion": result.conclusion,
                "job_id": result.job_id,
                "url": result.url,
                "completed_at": result.completed_at,
                "delivery_id": result.delivery_id,
                "status": result.status,
                "started_at": result.started_at,
                "infra": result.infra,
                "runner": result.runner,
            },
        )
    for alert in changes.alerts:
        data = codec.alert_to_json(alert)
        row = {name: data.pop(name) for name in _ALERT_COLUMNS}
        row["reason"] = data.pop("reason")
        row["details"] = codec.dumps(data)
        conn.execute(_UPSERT_ALERT, row)


def delivery_from_row(row: NamedRow) -> Delivery:
    return Delivery(
        delivery_id=row["delivery_id"],
        event=row["event"],
        repo=row["repo"],
        installation_id=row["installation_id"],
        body=bytes(row["body"]),
        received_at=row["received_at"],
        attempts=row["attempts"],
        status=DeliveryStatus(row["status"]),
        last_error=row["last_error"],
    )


def commit_from_row(row: NamedRow) -> StoredCommit:
    return StoredCommit(
        repo=row["repo"],
        branch=row["branch"],
        commit=CommitInfo(
            sha=row["sha"],
            message=row["message"],
            author=row["author"],
            timestamp=row["timestamp"],
            url=row["url"],
        ),
        parent=row["parent"],
    )


def result_from_row(row: sqlite3.Row) -> JobResult:
    return JobResult(**{**dict(row), "infra": bool(row["infra"])})


def alert_from_row(row: NamedRow) -> AlertState:
    data = json.loads(row["details"])
    data.update(
        alert=row["alert"],
        repo=row["repo"],
        branch=row["branch"],
        group=row["group_name"],
        seq=row["seq"],
        open=bool(row["open"]),
        opened_at=row["opened_at"],
        closed_at=row["closed_at"],
        reason=row["reason"],
    )
    try:
        return codec.alert_from_json(data)
    except ValueError as exc:
        raise StoreError(f"alert {row['alert']!r} is stored malformed: {exc}") from exc


INSTALLATION_REPOS = (
    "SELECT installation_id, repo FROM installation_repos ORDER BY installation_id, position"
)
INSTALLATIONS = (
    "SELECT installation_id, account, suspended FROM installations ORDER BY installation_id"
)


def installations_from_rows(
    rows: Iterable[NamedRow], repo_rows: Iterable[NamedRow]
) -> list[Installation]:
    """Installations from the rows of `INSTALLATIONS` and `INSTALLATION_REPOS` (either store)."""
    repos: dict[int, list[str]] = {}
    for row in repo_rows:
        repos.setdefault(row["installation_id"], []).append(row["repo"])
    return [
        Installation(
            installation_id=row["installation_id"],
            account=row["account"],
            repos=tuple(repos.get(row["installation_id"], ())),
            suspended=bool(row["suspended"]),
        )
        for row in rows
    ]
