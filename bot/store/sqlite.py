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
import functools
import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from bot.records import Escalation
from bot.store import codec, record_rows
from bot.store import sqlite_transactions as transactions
from bot.store.base import (
    Changes,
    Delivery,
    Installation,
    StoredCommit,
    StoreError,
)
from bot.store.batching import GroupCommit
from bot.store.schema import OPEN_STATUSES
from bot.store.sqlite_rows import (
    DELIVERY_COLUMNS,
    SELECT_ALERTS,
    SELECT_RESULTS,
    alert_from_row,
    commit_from_row,
    delivery_from_row,
    result_from_row,
)
from bot.tracker.model import AlertState, JobResult

P = ParamSpec("P")
T = TypeVar("T")
R = TypeVar("R")


class SQLiteStore:
    """The Store on one SQLite database file (or ":memory:")."""

    def __init__(self, path: str | Path, *, migrate_to: int | None = None) -> None:
        """`migrate_to` stops the schema at an older version (for migration tests)."""
        self.path = str(path)
        self._migrate_to = migrate_to
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None  # used on the store thread only
        self._inbox = GroupCommit(
            lambda batch: self._in_db(transactions.insert_deliveries, self.path, batch)
        )
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
        return await self._in_db(transactions.claim, worker, now, now + lease_seconds)

    async def release_claims(self) -> int:
        return await self._run(
            self._write,
            "UPDATE deliveries SET status = 'pending', claimed_by = NULL, lease_until = NULL"
            " WHERE status = 'processing'",
            (),
        )

    async def complete(self, delivery_id: str, changes: Changes) -> None:
        await self._in_db(
            transactions.complete, delivery_id, changes, count_versions=self._counts_versions
        )

    async def fail(self, delivery_id: str, error: str, retry_at: float | None) -> None:
        await self._in_db(transactions.fail, delivery_id, error, retry_at)

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
            SELECT_RESULTS + " WHERE repo = ? ORDER BY seq",
            (repo,),
        )
        return [result_from_row(row) for row in rows]

    async def load_results_for(self, repo: str, shas: Sequence[str]) -> list[JobResult]:
        wanted = sorted(set(shas))
        if not wanted:
            return []
        rows = await self._run(
            self._all,
            SELECT_RESULTS
            + f" WHERE repo = ? AND head_sha IN ({', '.join('?' * len(wanted))}) ORDER BY seq",
            (repo, *wanted),
        )
        return [result_from_row(row) for row in rows]

    async def load_alerts(self, repo: str) -> list[AlertState]:
        rows = await self._run(
            self._all,
            SELECT_ALERTS + " WHERE repo = ? ORDER BY branch, group_name, seq",
            (repo,),
        )
        return [alert_from_row(row) for row in rows]

    async def open_alerts(self) -> list[AlertState]:
        rows = await self._run(
            self._all,
            SELECT_ALERTS + " WHERE open ORDER BY repo, branch, group_name, seq",
            (),
        )
        return [alert_from_row(row) for row in rows]

    async def save_changes(self, changes: Changes) -> None:
        await self._in_db(transactions.save_changes, changes, count_versions=self._counts_versions)

    async def prune(self, repo: str, branch: str, keep_shas: Sequence[str]) -> int:
        return await self._in_db(
            transactions.prune,
            repo,
            branch,
            frozenset(keep_shas),
            count_versions=self._counts_versions,
        )

    async def repo_version(self, repo: str) -> int:
        row = await self._run(
            self._one, "SELECT version FROM repo_versions WHERE repo = ?", (repo,)
        )
        return 0 if row is None else int(row[0])

    # --- installations -----------------------------------------------------------------
    async def save_installation(self, installation: Installation) -> None:
        await self._in_db(transactions.save_installation, installation)

    async def delete_installation(self, installation_id: int) -> None:
        await self._run(
            self._write,
            "DELETE FROM installations WHERE installation_id = ?",
            (installation_id,),
        )

    async def installations(self) -> list[Installation]:
        return await self._in_db(transactions.installations)

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
        query = "SELECT delivery_id FROM deliveries WHERE delivery_id IN ({marks})"
        return {row[0] for row in await self._all_in(query, delivery_ids)}

    async def redeliveries_asked(self, guids: Sequence[str]) -> dict[str, tuple[int, int]]:
        query = (
            "SELECT guid, hook_delivery_id, requests FROM hook_redeliveries WHERE guid IN ({marks})"
        )
        rows = await self._all_in(query, guids)
        return {row[0]: (int(row[1]), int(row[2])) for row in rows}

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
        return await self._in_db(transactions.claim_escalations, now, seconds, limit)

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

    async def _all_in(self, query: str, ids: Sequence[str]) -> list[sqlite3.Row]:
        """The rows of `query` for each of the ids (`IN ({marks})`), asked in chunks."""
        unique = list(dict.fromkeys(ids))
        rows: list[sqlite3.Row] = []
        for start in range(0, len(unique), 500):  # SQLite's bound-parameter limit
            chunk = unique[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows += await self._run(self._all, query.format(marks=marks), chunk)
        return rows

    async def _in_db(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """`fn(connection, ...)` on the store thread (one of `sqlite_transactions`)."""
        return await self._run(lambda: fn(self._db(), *args, **kwargs))

    # --- on the store thread -----------------------------------------------------------
    def _connect(self) -> None:
        self._conn, self._counts_versions = transactions.connect(self.path, self._migrate_to)

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
        with transactions.transaction(conn):
            return conn.execute(query, params).rowcount


def _store_error(path: str, exc: sqlite3.Error) -> StoreError:
    error = StoreError(f"{path}: {exc}")
    error.__cause__ = exc
    return error
