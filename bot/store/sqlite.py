"""The embedded store: one SQLite file in WAL mode, worked on by one dedicated thread.

Every sqlite3 call runs on the store's own thread (a single-worker executor), so the event
loop never waits on the disk and the connection is never shared between threads. Commits
are synchronous=FULL: once a transaction returns, it survives a power cut.

Webhook ingest is the hot path: each delivery must be on disk before its 202. Concurrent
`add_delivery` calls are therefore group-committed: while one batch is being written and
fsynced, new deliveries queue up, and the next batch writes all of them in one transaction
with one fsync.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from bot.store import codec, record_rows
from bot.store.base import (
    Changes,
    Delivery,
    DeliveryStatus,
    Installation,
    StoredCommit,
    StoreError,
)
from bot.store.batching import GroupCommit
from bot.store.migrations import current_version, migrate
from bot.store.records import Escalation
from bot.store.schema import OPEN_STATUSES, REPO_VERSIONS_SINCE
from bot.store.sqlite_rows import (
    CLAIM,
    DELIVERY_COLUMNS,
    alert_from_row,
    commit_from_row,
    delivery_from_row,
    insert_delivery,
    write_changes,
)
from bot.tracker.model import AlertState, JobResult

P = ParamSpec("P")
T = TypeVar("T")
R = TypeVar("R")

BUSY_TIMEOUT_SECONDS = 10.0  # another process (a CLI next to `serve`) holding the write lock


class SQLiteStore:
    """The Store on one SQLite database file (or ":memory:")."""

    def __init__(self, path: str | Path, *, migrate_to: int | None = None) -> None:
        """`migrate_to` stops the schema at an older version (for migration tests)."""
        self.path = str(path)
        self._migrate_to = migrate_to
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None  # used on the store thread only
        self._inbox = GroupCommit(lambda batch: self._run(self._insert_deliveries, batch))
        self._counts_versions = True

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    # --- lifecycle ---------------------------------------------------------------------
    async def open(self) -> None:
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trunkwatch-store")
        try:
            await self._run(self._connect)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    async def close(self) -> None:
        executor = self._executor
        if executor is None:
            return
        await self._inbox.drain()
        try:
            await self._run(self._disconnect)
        finally:
            self._executor = None
            executor.shutdown(wait=False)

    async def schema_version(self) -> int:
        row = await self._run(self._one, "SELECT MAX(version) FROM schema_version", ())
        return int(row[0] or 0) if row else 0

    # --- the inbox ---------------------------------------------------------------------
    async def add_delivery(self, delivery: Delivery) -> bool:
        if self._executor is None:
            raise StoreError(f"{self!r} is not open")
        return await self._inbox.add(delivery)

    async def claim_next(self, worker: str, now: float, lease_seconds: float) -> Delivery | None:
        return await self._run(self._claim, worker, now, now + lease_seconds)

    async def release_claims(self) -> int:
        return await self._run(
            self._write,
            "UPDATE deliveries SET status = 'pending', claimed_by = NULL, lease_until = NULL"
            " WHERE status = 'processing'",
            (),
        )

    async def complete(self, delivery_id: str, changes: Changes) -> None:
        await self._run(self._complete, delivery_id, changes)

    async def fail(self, delivery_id: str, error: str, retry_at: float | None) -> None:
        await self._run(self._fail, delivery_id, error, retry_at)

    async def inbox_stats(self, now: float) -> tuple[int, float]:
        row = await self._run(
            self._one,
            f"SELECT COUNT(*), MIN(received_at) FROM deliveries WHERE status IN {OPEN_STATUSES}",
            (),
        )
        assert row is not None  # an aggregate always has a row
        count, oldest = int(row[0]), row[1]
        return count, (0.0 if oldest is None else max(0.0, now - oldest))

    async def get_delivery(self, delivery_id: str) -> Delivery | None:
        row = await self._run(
            self._one,
            f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE delivery_id = ?",
            (delivery_id,),
        )
        return None if row is None else delivery_from_row(row)

    async def dead_deliveries(self) -> list[Delivery]:
        rows = await self._run(
            self._all,
            f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE status = 'dead' ORDER BY seq",
            (),
        )
        return [delivery_from_row(row) for row in rows]

    async def prune_deliveries(self, received_before: float) -> int:
        return await self._run(
            self._write,
            "DELETE FROM deliveries WHERE status = 'done' AND received_at < ?",
            (received_before,),
        )

    # --- trunk facts -------------------------------------------------------------------
    async def load_commits(self, repo: str, branch: str | None = None) -> list[StoredCommit]:
        query = (
            "SELECT repo, branch, sha, parent, message, author, timestamp, url FROM commits"
            " WHERE repo = ?" + ("" if branch is None else " AND branch = ?") + " ORDER BY seq"
        )
        params = (repo,) if branch is None else (repo, branch)
        return [commit_from_row(row) for row in await self._run(self._all, query, params)]

    async def load_results(self, repo: str) -> list[JobResult]:
        rows = await self._run(
            self._all,
            "SELECT repo, branch, head_sha, workflow, job, run_id, run_attempt, conclusion,"
            " job_id, url, completed_at, delivery_id, status, started_at, infra, runner"
            " FROM job_results"
            " WHERE repo = ? ORDER BY seq",
            (repo,),
        )
        return [JobResult(**{**dict(row), "infra": bool(row["infra"])}) for row in rows]

    async def load_results_for(self, repo: str, shas: Sequence[str]) -> list[JobResult]:
        wanted = sorted(set(shas))
        if not wanted:
            return []
        rows = await self._run(
            self._all,
            "SELECT repo, branch, head_sha, workflow, job, run_id, run_attempt, conclusion,"
            " job_id, url, completed_at, delivery_id, status, started_at, infra, runner"
            " FROM job_results"
            f" WHERE repo = ? AND head_sha IN ({', '.join('?' * len(wanted))}) ORDER BY seq",
            (repo, *wanted),
        )
        return [JobResult(**{**dict(row), "infra": bool(row["infra"])}) for row in rows]

    async def load_alerts(self, repo: str) -> list[AlertState]:
        rows = await self._run(
            self._all,
            "SELECT alert, repo, branch, group_name, seq, open, opened_at, closed_at, reason,"
            " details FROM alerts WHERE repo = ? ORDER BY branch, group_name, seq",
            (repo,),
        )
        return [alert_from_row(row) for row in rows]

    async def open_alerts(self) -> list[AlertState]:
        rows = await self._run(
            self._all,
            "SELECT alert, repo, branch, group_name, seq, open, opened_at, closed_at, reason,"
            " details FROM alerts WHERE open ORDER BY repo, branch, group_name, seq",
            (),
        )
        return [alert_from_row(row) for row in rows]

    async def save_changes(self, changes: Changes) -> None:
        await self._run(self._save_changes, changes)

    async def prune(self, repo: str, branch: str, keep_shas: Sequence[str]) -> int:
        return await self._run(self._prune, repo, branch, frozenset(keep_shas))

    async def repo_version(self, repo: str) -> int:
        row = await self._run(
            self._one, "SELECT version FROM repo_versions WHERE repo = ?", (repo,)
        )
        return 0 if row is None else int(row[0])

    # --- installations -----------------------------------------------------------------
    async def save_installation(self, installation: Installation) -> None:
        await self._run(self._save_installation, installation)

    async def delete_installation(self, installation_id: int) -> None:
        await self._run(
            self._write,
            "DELETE FROM installations WHERE installation_id = ?",
            (installation_id,),
        )

    async def installations(self) -> list[Installation]:
        return await self._run(self._installations)

    async def installation_for_repo(self, repo: str) -> int | None:
        """The active installation that covers the repository; None if only suspended ones do."""
        row = await self._run(
            self._one,
            "SELECT i.installation_id FROM installation_repos AS r"
            " JOIN installations AS i ON i.installation_id = r.installation_id"
            " WHERE r.repo = ? AND NOT i.suspended ORDER BY i.installation_id LIMIT 1",
            (repo,),
        )
        return None if row is None else int(row[0])

    # --- recovering missed deliveries ------------------------------------------------
    async def take_lease(self, name: str, holder: str, now: float, seconds: float) -> bool:
        taken = await self._run(
            self._write,
            "INSERT INTO leases (name, holder, until) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until"
            " WHERE leases.holder = excluded.holder OR leases.until <= ?",
            (name, holder, now + seconds, now),
        )
        return taken == 1

    async def hook_cursor(self) -> int:
        row = await self._run(self._one, "SELECT newest_id FROM hook_cursor WHERE name = 'app'", ())
        return 0 if row is None else int(row[0])

    async def save_hook_cursor(self, newest_id: int, now: float) -> None:
        await self._run(
            self._write,
            "INSERT INTO hook_cursor (name, newest_id, updated_at) VALUES ('app', ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET"
            " newest_id = excluded.newest_id, updated_at = excluded.updated_at",
            (newest_id, now),
        )

    async def known_deliveries(self, delivery_ids: Sequence[str]) -> set[str]:
        ids = list(dict.fromkeys(delivery_ids))
        found: set[str] = set()
        for start in range(0, len(ids), 500):  # SQLite's bound-parameter limit
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = await self._run(
                self._all,
                f"SELECT delivery_id FROM deliveries WHERE delivery_id IN ({marks})",
                chunk,
            )
            found.update(row[0] for row in rows)
        return found

    async def redeliveries_asked(self, guids: Sequence[str]) -> dict[str, tuple[int, int]]:
        ids = list(dict.fromkeys(guids))
        asked: dict[str, tuple[int, int]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = await self._run(
                self._all,
                "SELECT guid, hook_delivery_id, requests FROM hook_redeliveries"
                f" WHERE guid IN ({marks})",
                chunk,
            )
            asked.update((row[0], (int(row[1]), int(row[2]))) for row in rows)
        return asked

    async def record_redelivery(self, guid: str, hook_delivery_id: int, now: float) -> None:
        await self._run(
            self._write,
            "INSERT INTO hook_redeliveries (guid, hook_delivery_id, requests, requested_at)"
            " VALUES (?, ?, 1, ?) ON CONFLICT (guid) DO UPDATE SET"
            " hook_delivery_id = excluded.hook_delivery_id,"
            " requests = hook_redeliveries.requests + 1, requested_at = excluded.requested_at",
            (guid, hook_delivery_id, now),
        )

    # --- typed records -------------------------------------------------------------------
    async def get_record(self, kind: type[R], *key: Any) -> R | None:
        query = record_rows.select(kind, record_rows.SQLITE, kind.KEY)  # type: ignore[attr-defined]
        row = await self._run(self._one, query, key)
        return None if row is None else record_rows.from_row(kind, row)

    async def find_records(self, kind: type[R], **where: Any) -> list[R]:
        query = record_rows.select(kind, record_rows.SQLITE, list(where))
        rows = await self._run(self._all, query, list(where.values()))
        return [record_rows.from_row(kind, row) for row in rows]

    async def claim_escalations(self, now: float, seconds: float, limit: int) -> list[Escalation]:
        return await self._run(self._claim_escalations, now, seconds, limit)

    async def state_items(self, namespace: str) -> list[tuple[str, Any]]:
        rows = await self._run(
            self._all, "SELECT key, value FROM state WHERE namespace = ? ORDER BY key", (namespace,)
        )
        return [(row[0], json.loads(row[1])) for row in rows]

    # --- key/value state ---------------------------------------------------------------
    async def get_state(self, namespace: str, key: str) -> Any | None:
        row = await self._run(
            self._one,
            "SELECT value FROM state WHERE namespace = ? AND key = ?",
            (namespace, key),
        )
        return None if row is None else json.loads(row[0])

    async def put_state(self, namespace: str, key: str, value: Any) -> None:
        """Store a JSON value; None removes the key."""
        if value is None:
            await self._run(
                self._write, "DELETE FROM state WHERE namespace = ? AND key = ?", (namespace, key)
            )
            return
        await self._run(
            self._write,
            "INSERT INTO state (namespace, key, value, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (namespace, key) DO UPDATE SET"
            " value = excluded.value, updated_at = excluded.updated_at",
            (namespace, key, codec.dumps(value), time.time()),
        )

    # --- on the event loop: handing work to the store thread -------------------------
    async def _run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        executor = self._executor
        if executor is None:
            raise StoreError(f"{self!r} is not open")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor, functools.partial(fn, *args, **kwargs))
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc) from exc

    # --- on the store thread -----------------------------------------------------------
    def _connect(self) -> None:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode = WAL")
            # Only the inbox write must reach the disk before it returns (see _insert_deliveries);
            # a claim or a completion lost to a power cut is redone, and redoing is idempotent.
            # In WAL mode NORMAL still survives a crash of the process.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            migrate(conn, self._migrate_to)
            self._counts_versions = current_version(conn) >= REPO_VERSIONS_SINCE
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"{self!r} is not open")
        return self._conn

    def _one(self, query: str, params: Sequence[Any]) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._db().execute(query, params).fetchone()
        return row

    def _all(self, query: str, params: Sequence[Any]) -> list[sqlite3.Row]:
        return self._db().execute(query, params).fetchall()

    def _write(self, query: str, params: Sequence[Any]) -> int:
        conn = self._db()
        with _transaction(conn):
            return conn.execute(query, params).rowcount

    def _insert_deliveries(self, deliveries: list[Delivery]) -> list[bool | Exception]:
        conn = self._db()
        conn.execute("PRAGMA synchronous = FULL")  # acknowledged means on disk
        try:
            return self._insert_batch(conn, deliveries)
        finally:
            conn.execute("PRAGMA synchronous = NORMAL")

    def _insert_batch(
        self, conn: sqlite3.Connection, deliveries: list[Delivery]
    ) -> list[bool | Exception]:
        try:
            with _transaction(conn):
                return [insert_delivery(conn, delivery) for delivery in deliveries]
        except Exception:  # sqlite3's errors, and a value it cannot bind (OverflowError, …)
            if len(deliveries) == 1:
                raise
        # One bad row must not fail the deliveries that shared its batch.
        outcomes: list[bool | Exception] = []
        for delivery in deliveries:
            try:
                with _transaction(conn):
                    outcomes.append(insert_delivery(conn, delivery))
            except Exception as exc:
                outcomes.append(_row_error(self.path, exc))
        return outcomes

    def _claim(self, worker: str, now: float, lease_until: float) -> Delivery | None:
        conn = self._db()
        # Most claims that find nothing are idle loops woken early: answer them from a plain
        # read, without taking the write lock; a hit is re-checked under the lock.
        if conn.execute(CLAIM, {"now": now}).fetchone() is None:
            return None
        with _transaction(conn):
            row = conn.execute(CLAIM, {"now": now}).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE deliveries SET status = 'processing', claimed_by = ?, lease_until = ?"
                " WHERE delivery_id = ?",
                (worker, lease_until, row["delivery_id"]),
            )
        return dataclasses.replace(delivery_from_row(row), status=DeliveryStatus.PROCESSING)

    def _complete(self, delivery_id: str, changes: Changes) -> None:
        conn = self._db()
        with _transaction(conn):
            updated = conn.execute(
                "UPDATE deliveries SET status = 'done', lease_until = NULL WHERE delivery_id = ?",
                (delivery_id,),
            ).rowcount
            if not updated:
                raise StoreError(f"no delivery {delivery_id!r} to complete")
            self._bump_versions(conn, changes.repos())
            write_changes(conn, changes)
            for statement, params in record_rows.statements(changes.records, record_rows.SQLITE):
                conn.execute(statement, params)

    def _claim_escalations(self, now: float, seconds: float, limit: int) -> list[Escalation]:
        conn = self._db()
        with _transaction(conn):
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

    def _fail(self, delivery_id: str, error: str, retry_at: float | None) -> None:
        conn = self._db()
        status = DeliveryStatus.DEAD if retry_at is None else DeliveryStatus.PENDING
        with _transaction(conn):
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

    def _save_changes(self, changes: Changes) -> None:
        conn = self._db()
        with _transaction(conn):
            self._bump_versions(conn, changes.repos())
            write_changes(conn, changes)
            for statement, params in record_rows.statements(changes.records, record_rows.SQLITE):
                conn.execute(statement, params)

    def _prune(self, repo: str, branch: str, keep: frozenset[str]) -> int:
        conn = self._db()
        with _transaction(conn):
            shas = conn.execute(
                "SELECT sha FROM commits WHERE repo = ? AND branch = ?", (repo, branch)
            ).fetchall()
            doomed = [(repo, branch, row["sha"]) for row in shas if row["sha"] not in keep]
            if doomed:
                self._bump_versions(conn, [repo])
            conn.executemany(
                "DELETE FROM job_results WHERE repo = ? AND branch = ? AND head_sha = ?", doomed
            )
            conn.executemany(
                "DELETE FROM commits WHERE repo = ? AND branch = ? AND sha = ?", doomed
            )
        return len(doomed)

    def _bump_versions(self, conn: sqlite3.Connection, repos: Iterable[str]) -> None:
        if self._counts_versions:
            conn.executemany(
                "INSERT INTO repo_versions (repo, version) VALUES (?, 1)"
                " ON CONFLICT (repo) DO UPDATE SET version = repo_versions.version + 1",
                [(repo,) for repo in repos],
            )

    def _save_installation(self, installation: Installation) -> None:
        conn = self._db()
        with _transaction(conn):
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

    def _installations(self) -> list[Installation]:
        conn = self._db()
        repos: dict[int, list[str]] = {}
        for row in conn.execute(
            "SELECT installation_id, repo FROM installation_repos"
            " ORDER BY installation_id, position"
        ):
            repos.setdefault(row["installation_id"], []).append(row["repo"])
        return [
            Installation(
                installation_id=row["installation_id"],
                account=row["account"],
                repos=tuple(repos.get(row["installation_id"], ())),
                suspended=bool(row["suspended"]),
            )
            for row in conn.execute(
                "SELECT installation_id, account, suspended FROM installations"
                " ORDER BY installation_id"
            )
        ]


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
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


def _row_error(path: str, exc: Exception) -> StoreError:
    error = StoreError(f"{path}: {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error


def _store_error(path: str, exc: sqlite3.Error) -> StoreError:
    error = StoreError(f"{path}: {exc}")
    error.__cause__ = exc
    return error
