"""The SQLite store's work on its thread: opening the database, then the transactions.

Each transaction takes the store's connection first: the inbox's batches, claims,
completions and the writes of more than one statement. `count_versions` is False for a
database stopped at a schema older than the change counter (`repo_versions`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
from collections.abc import Iterable, Iterator

from bot.records import Escalation
from bot.store import record_rows
from bot.store.base import Changes, Delivery, DeliveryStatus, Installation, StoreError
from bot.store.migrations import current_version, migrate
from bot.store.schema import REPO_VERSIONS_SINCE
from bot.store.sqlite_rows import (
    CLAIM,
    INSTALLATION_REPOS,
    INSTALLATIONS,
    delivery_from_row,
    insert_delivery,
    installations_from_rows,
    write_changes,
)

BUSY_TIMEOUT_SECONDS = 10.0  # another process (a CLI next to `serve`) holding the write lock


def connect(path: str, migrate_to: int | None) -> tuple[sqlite3.Connection, bool]:
    """The store's connection, its schema brought up to `migrate_to` (the newest by
    default); and whether that schema counts repository versions."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode = WAL")
        # Only the inbox write must reach the disk before it returns (insert_deliveries);
        # a claim or a completion lost to a power cut is redone, and redoing is idempotent.
        # In WAL mode NORMAL still survives a crash of the process.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn, migrate_to)
        return conn, current_version(conn) >= REPO_VERSIONS_SINCE
    except BaseException:
        conn.close()
        raise


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    # IMMEDIATE takes the write lock up front, so a read-then-write (a claim) cannot be
    # overtaken by another process between its read and its write.
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def insert_deliveries(
    conn: sqlite3.Connection, path: str, deliveries: list[Delivery]
) -> list[bool | Exception]:
    """One batch of the inbox, on disk when this returns: per delivery, whether it was new
    (or the error that kept it out)."""
    conn.execute("PRAGMA synchronous = FULL")  # acknowledged means on disk
    try:
        return _insert_batch(conn, path, deliveries)
    finally:
        conn.execute("PRAGMA synchronous = NORMAL")


def _insert_batch(
    conn: sqlite3.Connection, path: str, deliveries: list[Delivery]
) -> list[bool | Exception]:
    try:
        with transaction(conn):
            return [insert_delivery(conn, delivery) for delivery in deliveries]
    except Exception:  # sqlite3's errors, and a value it cannot bind (OverflowError, …)
        if len(deliveries) == 1:
            raise
    # One bad row must not fail the deliveries that shared its batch.
    outcomes: list[bool | Exception] = []
    for delivery in deliveries:
        try:
            with transaction(conn):
                outcomes.append(insert_delivery(conn, delivery))
        except Exception as exc:
            outcomes.append(_row_error(path, exc))
    return outcomes


def claim(conn: sqlite3.Connection, worker: str, now: float, lease_until: float) -> Delivery | None:
    # Most claims that find nothing are idle loops woken early: answer them from a plain
    # read, without taking the write lock; a hit is re-checked under the lock.
    if conn.execute(CLAIM, {"now": now}).fetchone() is None:
        return None
    with transaction(conn):
        row = conn.execute(CLAIM, {"now": now}).fetchone()
        if row is None:
            return None
        conn.execute(
            "UPDATE deliveries SET status = 'processing', claimed_by = ?, lease_until = ?"
            " WHERE delivery_id = ?",
            (worker, lease_until, row["delivery_id"]),
        )
    return dataclasses.replace(delivery_from_row(row), status=DeliveryStatus.PROCESSING)


def complete(
    conn: sqlite3.Connection, delivery_id: str, changes: Changes, *, count_versions: bool
) -> None:
    with transaction(conn):
        updated = conn.execute(
            "UPDATE deliveries SET status = 'done', lease_until = NULL WHERE delivery_id = ?",
            (delivery_id,),
        ).rowcount
        if not updated:
            raise StoreError(f"no delivery {delivery_id!r} to complete")
        _bump_versions(conn, changes.repos(), count_versions)
        write_changes(conn, changes)
        for statement, params in record_rows.statements(changes.records, record_rows.SQLITE):
            conn.execute(statement, params)


def claim_escalations(
    conn: sqlite3.Connection, now: float, seconds: float, limit: int
) -> list[Escalation]:
    with transaction(conn):
        rows = conn.execute(
            f"SELECT {record_rows.columns(Escalation)} FROM escalations"
            " WHERE state = 'pending' AND due <= ? AND claimed_until <= ?"
            " ORDER BY due LIMIT ?",
            (now, now, limit),
        ).fetchall()
        until = now + seconds
        claimed = [
            dataclasses.replace(record_rows.from_row(Escalation, row), claimed_until=until)
            for row in rows
        ]
        conn.executemany(
            "UPDATE escalations SET claimed_until = ? WHERE alert = ?",
            [(e.claimed_until, e.alert) for e in claimed],
        )
    return claimed


def fail(conn: sqlite3.Connection, delivery_id: str, error: str, retry_at: float | None) -> None:
    status = DeliveryStatus.DEAD if retry_at is None else DeliveryStatus.PENDING
    with transaction(conn):
        found = conn.execute(
            "SELECT status FROM deliveries WHERE delivery_id = ?", (delivery_id,)
        ).fetchone()
        if found is None:
            raise StoreError(f"no delivery {delivery_id!r} to fail")
        if found["status"] not in ("pending", "processing"):
            return  # finished meanwhile (by a worker that took over an expired lease)
        conn.execute(
            "UPDATE deliveries SET status = ?, attempts = attempts + 1, last_error = ?,"
            " next_attempt_at = COALESCE(?, next_attempt_at),"
            " claimed_by = NULL, lease_until = NULL"
            " WHERE delivery_id = ?",
            (status.value, error, retry_at, delivery_id),
        )


def save_changes(conn: sqlite3.Connection, changes: Changes, *, count_versions: bool) -> None:
    with transaction(conn):
        _bump_versions(conn, changes.repos(), count_versions)
        write_changes(conn, changes)
        for statement, params in record_rows.statements(changes.records, record_rows.SQLITE):
            conn.execute(statement, params)


def prune(
    conn: sqlite3.Connection, repo: str, branch: str, keep: frozenset[str], *, count_versions: bool
) -> int:
    with transaction(conn):
        shas = conn.execute(
            "SELECT sha FROM commits WHERE repo = ? AND branch = ?", (repo, branch)
        ).fetchall()
        doomed = [(repo, branch, row["sha"]) for row in shas if row["sha"] not in keep]
        if doomed:
            _bump_versions(conn, [repo], count_versions)
        conn.executemany(
            "DELETE FROM job_results WHERE repo = ? AND branch = ? AND head_sha = ?", doomed
        )
        conn.executemany("DELETE FROM commits WHERE repo = ? AND branch = ? AND sha = ?", doomed)
    return len(doomed)


def _bump_versions(conn: sqlite3.Connection, repos: Iterable[str], count_versions: bool) -> None:
    if count_versions:
        conn.executemany(
            "INSERT INTO repo_versions (repo, version) VALUES (?, 1)"
            " ON CONFLICT (repo) DO UPDATE SET version = repo_versions.version + 1",
            [(repo,) for repo in repos],
        )


def save_installation(conn: sqlite3.Connection, installation: Installation) -> None:
    with transaction(conn):
        conn.execute(
            "INSERT INTO installations (installation_id, account, suspended) VALUES (?, ?, ?)"
            " ON CONFLICT (installation_id) DO UPDATE SET"
            " account = excluded.account, suspended = excluded.suspended",
            (installation.installation_id, installation.account, installation.suspended),
        )
        conn.execute(
            "DELETE FROM installation_repos WHERE installation_id = ?",
            (installation.installation_id,),
        )
        conn.executemany(
            "INSERT INTO installation_repos (installation_id, repo, position) VALUES (?, ?, ?)",
            [
                (installation.installation_id, repo, position)
                for position, repo in enumerate(dict.fromkeys(installation.repos))
            ],
        )


def installations(conn: sqlite3.Connection) -> list[Installation]:
    repo_rows = conn.execute(INSTALLATION_REPOS).fetchall()
    return installations_from_rows(conn.execute(INSTALLATIONS), repo_rows)


def _row_error(path: str, exc: Exception) -> StoreError:
    error = StoreError(f"{path}: {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error
