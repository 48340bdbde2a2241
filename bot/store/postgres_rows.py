"""The PostgreSQL store's statements, and its work on one connection: migrating, claiming,
writing facts.

Functions of one asyncpg connection, inside a transaction the store opened (`claim` and
`migrate` open their own); they take the locks their statements rely on. Rows are read back
with `sqlite_rows`' converters, which read columns by name as asyncpg's Record allows too.
"""

from __future__ import annotations

import dataclasses
import re
import time
import urllib.parse
from typing import TYPE_CHECKING, TypeAlias

import asyncpg

from bot.store import codec
from bot.store.base import Changes, Delivery, DeliveryStatus, Installation, StoreError
from bot.store.migrations import MIGRATIONS, OPEN_STATUSES, Migration
from bot.store.sqlite_rows import (
    DELIVERY_COLUMNS,
    INSTALLATION_REPOS,
    INSTALLATIONS,
    delivery_from_row,
    installations_from_rows,
)

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    # A connection the pool lends (a proxy of one) or one opened alone: the same calls.
    Connection: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]

# Advisory lock keys are (class, key) pairs; the class keeps ours apart from each other's.
MIGRATION_LOCK = (0x7477, 1)  # "tw": applying migrations
INBOX_LOCK = (0x7477, 2)  # assigning arrival order (`seq`) to new deliveries
REPO_CLAIM_LOCK_CLASS = 0x7478  # (class, hashtext(repo)): deciding a claim in one repository

CLAIM_CANDIDATES_PER_TRY = 32  # repositories with ready work looked at per claim

# A delivery is ready when pending and due, or claimed under a lease that has expired.
_READY = """
    CASE d.status WHEN 'pending' THEN d.next_attempt_at <= $1 ELSE d.lease_until <= $1 END
"""

# Candidates for a claim, read without locks: the ready deliveries that are the oldest open
# one of their repository (or have none). Each is then decided under its repository's lock.
# `heads` walks the open-deliveries index one repository at a time (a loose index scan), so
# the cost follows the number of repositories with work, not the length of the backlog.
CLAIM_CANDIDATES = f"""
    WITH RECURSIVE heads (repo, seq) AS (
        (SELECT repo, seq FROM deliveries
         WHERE status IN {OPEN_STATUSES} AND repo > '' ORDER BY repo, seq LIMIT 1)
        UNION ALL
        SELECT next.repo, next.seq FROM heads, LATERAL (
            SELECT repo, seq FROM deliveries
            WHERE status IN {OPEN_STATUSES} AND repo > heads.repo ORDER BY repo, seq LIMIT 1
        ) AS next
    )
    SELECT delivery_id, repo, seq FROM (
        SELECT d.delivery_id, d.repo, d.seq FROM heads JOIN deliveries AS d ON d.seq = heads.seq
        WHERE {_READY}
        UNION ALL
        (SELECT d.delivery_id, d.repo, d.seq FROM deliveries AS d
         WHERE d.repo = '' AND d.status IN {OPEN_STATUSES} AND {_READY}
         ORDER BY d.seq LIMIT $2)
    ) AS candidates
    ORDER BY seq
    LIMIT $2
"""

# Under the repository's claim lock, on a snapshot taken after it: the repository's oldest
# open delivery if it is ready and no other delivery of the repository is under a live lease.
CLAIM_IN_REPO = f"""
    SELECT {DELIVERY_COLUMNS} FROM deliveries AS d
    WHERE d.seq = (SELECT MIN(seq) FROM deliveries
                   WHERE repo = $2 AND status IN {OPEN_STATUSES})
      AND {_READY}
      AND NOT EXISTS (SELECT 1 FROM deliveries AS e
                      WHERE e.repo = $2 AND e.status = 'processing'
                        AND e.lease_until > $1 AND e.delivery_id <> d.delivery_id)
    FOR UPDATE SKIP LOCKED
"""

# Deliveries without a repository do not wait on each other: only the row itself is locked.
CLAIM_UNORDERED = f"""
    SELECT {DELIVERY_COLUMNS} FROM deliveries AS d
    WHERE d.delivery_id = $2 AND d.status IN {OPEN_STATUSES} AND {_READY}
    FOR UPDATE SKIP LOCKED
"""

MARK_CLAIMED = """
    UPDATE deliveries SET status = 'processing', claimed_by = $2, lease_until = $3
    WHERE delivery_id = $1
"""

# Run under INBOX_LOCK, so that MAX(seq) + 1 is this delivery's alone and arrival order is
# commit order: no delivery can become visible behind one that was already claimed.
_INSERT_DELIVERY = f"""
    INSERT INTO deliveries ({DELIVERY_COLUMNS}, seq)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,
            (SELECT COALESCE(MAX(seq), 0) + 1 FROM deliveries))
    ON CONFLICT (delivery_id) DO NOTHING
    RETURNING 1
"""

# Taken first in every write of a repository's facts: the row lock it holds until commit
# also serialises the per-repository `MAX(seq) + 1` below between replicas.
_BUMP_VERSION = """
    INSERT INTO repo_versions (repo, version) VALUES ($1, 1)
    ON CONFLICT (repo) DO UPDATE SET version = repo_versions.version + 1
"""

_UPSERT_COMMIT = """
    INSERT INTO commits (repo, branch, sha, parent, message, author, timestamp, url, seq)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
            (SELECT COALESCE(MAX(seq), 0) + 1 FROM commits WHERE repo = $1))
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
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
            (SELECT COALESCE(MAX(seq), 0) + 1 FROM job_results WHERE repo = $1))
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
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
    ON CONFLICT (alert) DO UPDATE SET
        repo = excluded.repo, branch = excluded.branch, group_name = excluded.group_name,
        seq = excluded.seq, open = excluded.open, opened_at = excluded.opened_at,
        closed_at = excluded.closed_at, reason = excluded.reason, details = excluded.details
"""

_SCHEMA_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER NOT NULL PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
)


def postgres_sql(statement: str) -> str:
    """A migration statement, written for SQLite, in PostgreSQL's words."""
    return re.sub(r"\bBLOB\b", "BYTEA", statement)


async def lock(conn: Connection, key: tuple[int, int]) -> None:
    """Wait for a transaction-level advisory lock (released at commit or rollback)."""
    await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", *key)


async def migrate(
    conn: Connection, target: int | None = None, migrations: tuple[Migration, ...] = MIGRATIONS
) -> list[int]:
    """Bring the database up to `target` (the newest by default). Returns the versions applied.

    Each migration is its own transaction under MIGRATION_LOCK, and re-reads the version
    under the lock: replicas starting at once apply every migration exactly once."""
    newest = migrations[-1].version if migrations else 0
    target = newest if target is None else target
    if not 0 <= target <= newest:
        raise ValueError(f"no schema version {target}; the newest is {newest}")
    async with conn.transaction():
        # CREATE TABLE IF NOT EXISTS itself races between sessions; the lock orders them.
        await lock(conn, MIGRATION_LOCK)
        await conn.execute(_SCHEMA_VERSION_TABLE)
        found = await current_version(conn)
    if found > newest:
        raise StoreError(
            f"the database has schema version {found}, newer than this trunkwatch knows "
            f"({newest}); upgrade trunkwatch"
        )
    applied = []
    for migration in migrations:
        if not found < migration.version <= target:
            continue
        async with conn.transaction():
            await lock(conn, MIGRATION_LOCK)
            if migration.version > await current_version(conn):
                for statement in migration.statements:
                    await conn.execute(postgres_sql(statement))
                await conn.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)",
                    migration.version,
                    time.time(),
                )
                applied.append(migration.version)
    return applied


async def current_version(conn: Connection) -> int:
    return int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))


async def insert_delivery(conn: Connection, delivery: Delivery) -> bool:
    """Insert one delivery (the caller holds INBOX_LOCK); False if its id is known."""
    inserted = await conn.fetchval(
        _INSERT_DELIVERY,
        delivery.delivery_id,
        delivery.event,
        delivery.repo,
        delivery.installation_id,
        delivery.body,
        delivery.received_at,
        delivery.attempts,
        delivery.status.value,
        delivery.last_error,
    )
    return inserted is not None


async def bump_versions(conn: Connection, repos: list[str]) -> None:
    """Count a write of each repository; `repos` sorted, so concurrent writers never deadlock."""
    for repo in repos:
        await conn.execute(_BUMP_VERSION, repo)


async def write_changes(conn: Connection, changes: Changes, *, count_versions: bool = True) -> None:
    if count_versions:
        await bump_versions(conn, changes.repos())
    for stored in changes.commits:
        commit = stored.commit
        await conn.execute(
            _UPSERT_COMMIT,
            stored.repo,
            stored.branch,
            commit.sha,
            stored.parent,
            commit.message,
            commit.author,
            commit.timestamp,
            commit.url,
        )
    for result in changes.results:
        await conn.execute(
            _UPSERT_RESULT,
            result.repo,
            result.branch,
            result.head_sha,
            result.workflow,
            result.job,
            result.run_id,
            result.run_attempt,
            result.conclusion,
            result.job_id,
            result.url,
            result.completed_at,
            result.delivery_id,
            result.status,
            result.started_at,
            result.infra,
            result.runner,
        )
    for alert in changes.alerts:
        data = codec.alert_to_json(alert)
        row = [data.pop(name) for name in _ALERT_COLUMNS]
        reason = data.pop("reason")
        await conn.execute(_UPSERT_ALERT, *row, reason, codec.dumps(data))


async def claim(conn: Connection, worker: str, now: float, lease_until: float) -> Delivery | None:
    """The claim that `PostgresStore.claim_next` describes, on one connection."""
    candidates = await conn.fetch(CLAIM_CANDIDATES, now, CLAIM_CANDIDATES_PER_TRY)
    for candidate in candidates:
        repo = candidate["repo"]
        async with conn.transaction():
            if repo:
                locked = await conn.fetchval(
                    "SELECT pg_try_advisory_xact_lock($1, hashtext($2))",
                    REPO_CLAIM_LOCK_CLASS,
                    repo,
                )
                if not locked:
                    continue  # another replica is deciding for this repository
                row = await conn.fetchrow(CLAIM_IN_REPO, now, repo)
            else:
                row = await conn.fetchrow(CLAIM_UNORDERED, now, candidate["delivery_id"])
            if row is None:
                continue
            await conn.execute(MARK_CLAIMED, row["delivery_id"], worker, lease_until)
        return dataclasses.replace(delivery_from_row(row), status=DeliveryStatus.PROCESSING)
    return None


async def fail_delivery(
    conn: Connection, delivery_id: str, error: str, retry_at: float | None
) -> None:
    status = DeliveryStatus.DEAD if retry_at is None else DeliveryStatus.PENDING
    found = await conn.fetchval(
        "SELECT status FROM deliveries WHERE delivery_id = $1 FOR UPDATE", delivery_id
    )
    if found is None:
        raise StoreError(f"no delivery {delivery_id!r} to fail")
    if found not in ("pending", "processing"):
        return  # finished meanwhile (by a worker that took over an expired lease)
    await conn.execute(
        "UPDATE deliveries SET status = $2, attempts = attempts + 1, last_error = $3,"
        " next_attempt_at = COALESCE($4, next_attempt_at),"
        " claimed_by = NULL, lease_until = NULL"
        " WHERE delivery_id = $1",
        delivery_id,
        status.value,
        error,
        retry_at,
    )


async def prune_branch(
    conn: Connection, repo: str, branch: str, keep: frozenset[str], *, count_versions: bool
) -> int:
    shas = await conn.fetch("SELECT sha FROM commits WHERE repo = $1 AND branch = $2", repo, branch)
    doomed = [row["sha"] for row in shas if row["sha"] not in keep]
    if not doomed:
        return 0
    if count_versions:
        await bump_versions(conn, [repo])
    await conn.execute(
        "DELETE FROM job_results WHERE repo = $1 AND branch = $2 AND head_sha = ANY($3::text[])",
        repo,
        branch,
        doomed,
    )
    status = await conn.execute(
        "DELETE FROM commits WHERE repo = $1 AND branch = $2 AND sha = ANY($3::text[])",
        repo,
        branch,
        doomed,
    )
    return row_count(status)


async def save_installation(conn: Connection, installation: Installation) -> None:
    await conn.execute(
        "INSERT INTO installations (installation_id, account, suspended)"
        " VALUES ($1, $2, $3) ON CONFLICT (installation_id) DO UPDATE SET"
        " account = excluded.account, suspended = excluded.suspended",
        installation.installation_id,
        installation.account,
        installation.suspended,
    )
    await conn.execute(
        "DELETE FROM installation_repos WHERE installation_id = $1", installation.installation_id
    )
    await conn.executemany(
        "INSERT INTO installation_repos (installation_id, repo, position) VALUES ($1, $2, $3)",
        [
            (installation.installation_id, repo, position)
            for position, repo in enumerate(dict.fromkeys(installation.repos))
        ],
    )


async def load_installations(conn: Connection) -> list[Installation]:
    repo_rows = await conn.fetch(INSTALLATION_REPOS)
    return installations_from_rows(await conn.fetch(INSTALLATIONS), repo_rows)


def row_count(status: str) -> int:
    """The row count of a command tag such as 'UPDATE 3' or 'INSERT 0 1'."""
    return int(status.rsplit(" ", 1)[-1])


def redact(dsn: str) -> str:
    """The DSN without its password or query, fit for logs and errors."""
    try:
        parts = urllib.parse.urlsplit(dsn)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "postgresql://…"
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"
