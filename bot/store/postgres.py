"""The shared store: one PostgreSQL database behind several `serve` replicas (asyncpg).

Same schema versions and the same semantics as the SQLite store, method for method; what
differs is that other processes write concurrently, so each decision that SQLite makes
under its single write lock is made here under a narrower PostgreSQL lock:

- **Arrival order.** New deliveries get `seq = MAX(seq) + 1` under one advisory lock held
  to commit, so arrival order is commit order and no delivery ever appears behind one that
  was already handed out. Concurrent `add_delivery` calls of a replica are group-committed:
  one transaction, one lock and one WAL flush per batch.
- **Claims.** See `claim_next`: `FOR UPDATE SKIP LOCKED` on the delivery row, decided under
  a per-repository advisory transaction lock.
- **Facts.** Every write of a repository's facts first bumps its `repo_versions` row; that
  row lock, held to commit, also orders the per-repository `seq` of commits and results.
- **Migrations.** Applied under an advisory lock, so replicas starting at once do not race.

Leases compare against the `now` the caller passes, as in SQLite: replicas' clocks must
agree to well within a lease (NTP).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from bot.records import Escalation
from bot.store import codec, record_rows
from bot.store.base import (
    Changes,
    Delivery,
    Installation,
    StoredCommit,
    StoreError,
)
from bot.store.batching import GroupCommit
from bot.store.migrations import OPEN_STATUSES
from bot.store.postgres_pool import PostgresPool
from bot.store.postgres_rows import (
    INBOX_LOCK,
    claim,
    fail_delivery,
    insert_delivery,
    load_installations,
    lock,
    prune_branch,
    row_count,
    save_installation,
    write_changes,
)
from bot.store.sqlite_rows import (
    DELIVERY_COLUMNS,
    alert_from_row,
    commit_from_row,
    delivery_from_row,
)
from bot.tracker.model import AlertState, JobResult

if TYPE_CHECKING:
    from bot.store.postgres_rows import Connection

R = TypeVar("R")


class PostgresStore(PostgresPool):
    """The Store on a PostgreSQL database, shared by any number of replicas."""

    @cached_property
    def _inbox(self) -> GroupCommit:
        """Concurrent `add_delivery` calls, group-committed: one transaction per batch."""
        return GroupCommit(self._insert_deliveries)

    # --- lifecycle ---------------------------------------------------------------------
    async def close(self) -> None:
        if self._pool is not None:
            await self._inbox.drain()
        await super().close()

    async def schema_version(self) -> int:
        return int(await self._fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))

    # --- the inbox ---------------------------------------------------------------------
    async def add_delivery(self, delivery: Delivery) -> bool:
        self._pool_or_raise()
        return await self._inbox.add(delivery)

    async def claim_next(self, worker: str, now: float, lease_seconds: float) -> Delivery | None:
        """The oldest deliverable delivery, claimed for `worker` until now + lease.

        Candidates (each repository's oldest open delivery, if ready) are read without
        locks; each is then decided in a transaction that first takes
        `pg_try_advisory_xact_lock(class, hashtext(repo))` and re-reads the repository on a
        snapshot taken after it. Whoever decided for this repository before has committed
        by then, so the re-read sees their claim, and two replicas never hand out deliveries
        of one repository at once; a repository whose lock is taken is skipped, not waited
        for. The delivery row is taken `FOR UPDATE SKIP LOCKED`, against a concurrent
        claim, `complete` or `fail` of the same row. The row lock alone would not do: its
        re-check covers the locked row, but "oldest open" and "no live lease elsewhere in
        the repository" are judged on the statement's snapshot, which may be stale.

        Why an advisory lock and not a lease row per repository: the lease already lives on
        the delivery row (`lease_until`, which is what lets another replica take over from
        one that died); a second lease would have to be kept in step with it, cleaned up,
        and migrated. The advisory lock guards only the milliseconds of the decision, and
        PostgreSQL drops it at commit, at rollback, or when the connection dies. A hash
        collision between two repositories only defers one of them to the next poll.
        """
        async with self._connection() as conn:
            return await claim(conn, worker, now, now + lease_seconds)

    async def release_claims(self) -> int:
        """Return claims whose lease has expired to the queue; live ones are left alone.

        Unlike SQLite's, this does NOT void every claim: on a shared database the other
        claims are other replicas' work in progress. A restarted replica's own claims
        therefore come back when their lease runs out (as they would to any replica), not
        at once. Expired claims are claimable anyway; this only tidies their status."""
        status = await self._execute(
            "UPDATE deliveries SET status = 'pending', claimed_by = NULL, lease_until = NULL"
            " WHERE status = 'processing' AND lease_until <= $1",
            time.time(),
        )
        return row_count(status)

    async def complete(self, delivery_id: str, changes: Changes) -> None:
        async with self._connection() as conn, conn.transaction():
            status = await conn.execute(
                "UPDATE deliveries SET status = 'done', lease_until = NULL WHERE delivery_id = $1",
                delivery_id,
            )
            if not row_count(status):
                raise StoreError(f"no delivery {delivery_id!r} to complete")
            await write_changes(conn, changes, count_versions=self._counts_versions)
            await _write_records(conn, changes)

    async def fail(self, delivery_id: str, error: str, retry_at: float | None) -> None:
        async with self._connection() as conn, conn.transaction():
            await fail_delivery(conn, delivery_id, error, retry_at)

    async def inbox_stats(self, now: float) -> tuple[int, float]:
        row = await self._fetchrow(
            f"SELECT COUNT(*), MIN(received_at) FROM deliveries WHERE status IN {OPEN_STATUSES}"
        )
        assert row is not None  # an aggregate always answers one row
        count, oldest = int(row[0]), row[1]
        return count, (0.0 if oldest is None else max(0.0, now - oldest))

    async def get_delivery(self, delivery_id: str) -> Delivery | None:
        row = await self._fetchrow(
            f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE delivery_id = $1", delivery_id
        )
        return None if row is None else delivery_from_row(row)

    async def dead_deliveries(self) -> list[Delivery]:
        rows = await self._fetch(
            f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE status = 'dead' ORDER BY seq"
        )
        return [delivery_from_row(row) for row in rows]

    async def prune_deliveries(self, received_before: float) -> int:
        status = await self._execute(
            "DELETE FROM deliveries WHERE status = 'done' AND received_at < $1", received_before
        )
        return row_count(status)

    # --- trunk facts -------------------------------------------------------------------
    async def load_commits(self, repo: str, branch: str | None = None) -> list[StoredCommit]:
        query = (
            "SELECT repo, branch, sha, parent, message, author, timestamp, url FROM commits"
            " WHERE repo = $1" + ("" if branch is None else " AND branch = $2") + " ORDER BY seq"
        )
        params = (repo,) if branch is None else (repo, branch)
        return [commit_from_row(row) for row in await self._fetch(query, *params)]

    async def load_results(self, repo: str) -> list[JobResult]:
        rows = await self._fetch(
            "SELECT repo, branch, head_sha, workflow, job, run_id, run_attempt, conclusion,"
            " job_id, url, completed_at, delivery_id, status, started_at, infra, runner"
            " FROM job_results"
            " WHERE repo = $1 ORDER BY seq",
            repo,
        )
        return [JobResult(**dict(row)) for row in rows]

    async def load_results_for(self, repo: str, shas: Sequence[str]) -> list[JobResult]:
        rows = await self._fetch(
            "SELECT repo, branch, head_sha, workflow, job, run_id, run_attempt, conclusion,"
            " job_id, url, completed_at, delivery_id, status, started_at, infra, runner"
            " FROM job_results"
            " WHERE repo = $1 AND head_sha = ANY($2::text[]) ORDER BY seq",
            repo,
            sorted(set(shas)),
        )
        return [JobResult(**dict(row)) for row in rows]

    async def load_alerts(self, repo: str) -> list[AlertState]:
        # COLLATE "C": byte order, as SQLite sorts, whatever the database's locale.
        rows = await self._fetch(
            "SELECT alert, repo, branch, group_name, seq, open, opened_at, closed_at, reason,"
            ' details FROM alerts WHERE repo = $1 ORDER BY branch COLLATE "C",'
            ' group_name COLLATE "C", seq',
            repo,
        )
        return [alert_from_row(row) for row in rows]

    async def open_alerts(self) -> list[AlertState]:
        rows = await self._fetch(
            "SELECT alert, repo, branch, group_name, seq, open, opened_at, closed_at, reason,"
            ' details FROM alerts WHERE open ORDER BY repo COLLATE "C", branch COLLATE "C",'
            ' group_name COLLATE "C", seq'
        )
        return [alert_from_row(row) for row in rows]

    async def save_changes(self, changes: Changes) -> None:
        async with self._connection() as conn, conn.transaction():
            await write_changes(conn, changes, count_versions=self._counts_versions)
            await _write_records(conn, changes)

    async def prune(self, repo: str, branch: str, keep_shas: Sequence[str]) -> int:
        async with self._connection() as conn, conn.transaction():
            return await prune_branch(
                conn, repo, branch, frozenset(keep_shas), count_versions=self._counts_versions
            )

    async def repo_version(self, repo: str) -> int:
        version = await self._fetchval("SELECT version FROM repo_versions WHERE repo = $1", repo)
        return 0 if version is None else int(version)

    # --- installations -----------------------------------------------------------------
    async def save_installation(self, installation: Installation) -> None:
        async with self._connection() as conn, conn.transaction():
            await save_installation(conn, installation)

    async def delete_installation(self, installation_id: int) -> None:
        await self._execute("DELETE FROM installations WHERE installation_id = $1", installation_id)

    async def installations(self) -> list[Installation]:
        async with self._connection() as conn, conn.transaction(isolation="repeatable_read"):
            return await load_installations(conn)

    async def installation_for_repo(self, repo: str) -> int | None:
        """The active installation that covers the repository; None if only suspended ones do."""
        found = await self._fetchval(
            "SELECT i.installation_id FROM installation_repos AS r"
            " JOIN installations AS i ON i.installation_id = r.installation_id"
            " WHERE r.repo = $1 AND NOT i.suspended ORDER BY i.installation_id LIMIT 1",
            repo,
        )
        return None if found is None else int(found)

    # --- recovering missed deliveries ------------------------------------------------
    async def take_lease(self, name: str, holder: str, now: float, seconds: float) -> bool:
        status = await self._execute(
            "INSERT INTO leases (name, holder, until) VALUES ($1, $2, $3)"
            " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until"
            " WHERE leases.holder = excluded.holder OR leases.until <= $4",
            name,
            holder,
            now + seconds,
            now,
        )
        return row_count(status) == 1

    async def hook_cursor(self) -> int:
        found = await self._fetchval("SELECT newest_id FROM hook_cursor WHERE name = 'app'")
        return 0 if found is None else int(found)

    async def save_hook_cursor(self, newest_id: int, now: float) -> None:
        await self._execute(
            "INSERT INTO hook_cursor (name, newest_id, updated_at) VALUES ('app', $1, $2)"
            " ON CONFLICT (name) DO UPDATE SET"
            " newest_id = excluded.newest_id, updated_at = excluded.updated_at",
            newest_id,
            now,
        )

    async def known_deliveries(self, delivery_ids: Sequence[str]) -> set[str]:
        rows = await self._fetch(
            "SELECT delivery_id FROM deliveries WHERE delivery_id = ANY($1::text[])",
            list(delivery_ids),
        )
        return {row[0] for row in rows}

    async def redeliveries_asked(self, guids: Sequence[str]) -> dict[str, tuple[int, int]]:
        rows = await self._fetch(
            "SELECT guid, hook_delivery_id, requests FROM hook_redeliveries"
            " WHERE guid = ANY($1::text[])",
            list(guids),
        )
        return {row[0]: (int(row[1]), int(row[2])) for row in rows}

    async def record_redelivery(self, guid: str, hook_delivery_id: int, now: float) -> None:
        await self._execute(
            "INSERT INTO hook_redeliveries (guid, hook_delivery_id, requests, requested_at)"
            " VALUES ($1, $2, 1, $3) ON CONFLICT (guid) DO UPDATE SET"
            " hook_delivery_id = excluded.hook_delivery_id,"
            " requests = hook_redeliveries.requests + 1, requested_at = excluded.requested_at",
            guid,
            hook_delivery_id,
            now,
        )

    # --- typed records -------------------------------------------------------------------
    async def get_record(self, kind: type[R], *key: Any) -> R | None:
        query = record_rows.select(kind, record_rows.POSTGRES, kind.KEY)  # type: ignore[attr-defined]
        row = await self._fetchrow(query, *key)
        return None if row is None else record_rows.from_row(kind, row)

    async def find_records(self, kind: type[R], **where: Any) -> list[R]:
        query = record_rows.select(kind, record_rows.POSTGRES, list(where))
        # COLLATE-free keys: ordering by key is only for a stable answer.
        rows = await self._fetch(query, *where.values())
        return [record_rows.from_row(kind, row) for row in rows]

    async def claim_escalations(self, now: float, seconds: float, limit: int) -> list[Escalation]:
        rows = await self._fetch(
            "UPDATE escalations SET claimed_until = $2 WHERE alert IN ("
            " SELECT alert FROM escalations"
            " WHERE state = 'pending' AND due <= $1 AND claimed_until <= $1"
            " ORDER BY due LIMIT $3 FOR UPDATE SKIP LOCKED)"
            f" RETURNING {record_rows.columns(Escalation)}",
            now,
            now + seconds,
            limit,
        )
        claimed = [record_rows.from_row(Escalation, row) for row in rows]
        return sorted(claimed, key=lambda escalation: escalation.due)

    async def state_items(self, namespace: str) -> list[tuple[str, Any]]:
        rows = await self._fetch(
            "SELECT key, value FROM state WHERE namespace = $1 ORDER BY key", namespace
        )
        return [(row[0], json.loads(row[1])) for row in rows]

    # --- key/value state ---------------------------------------------------------------
    async def get_state(self, namespace: str, key: str) -> Any | None:
        value = await self._fetchval(
            "SELECT value FROM state WHERE namespace = $1 AND key = $2", namespace, key
        )
        return None if value is None else json.loads(value)

    async def put_state(self, namespace: str, key: str, value: Any) -> None:
        """Store a JSON value; None removes the key."""
        if value is None:
            await self._execute(
                "DELETE FROM state WHERE namespace = $1 AND key = $2", namespace, key
            )
            return
        await self._execute(
            "INSERT INTO state (namespace, key, value, updated_at) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (namespace, key) DO UPDATE SET"
            " value = excluded.value, updated_at = excluded.updated_at",
            namespace,
            key,
            codec.dumps(value),
            time.time(),
        )

    # --- the inbox's group commit ---------------------------------------------------
    async def _insert_deliveries(self, deliveries: list[Delivery]) -> list[bool | Exception]:
        try:
            return await self._insert_batch(deliveries)
        except Exception as exc:  # the database's errors, and a value asyncpg cannot encode
            if len(deliveries) == 1:
                return [exc if isinstance(exc, StoreError) else self._error(exc)]
        # One bad row must not fail the deliveries that shared its batch.
        outcomes: list[bool | Exception] = []
        for delivery in deliveries:
            try:
                outcomes.extend(await self._insert_batch([delivery]))
            except Exception as exc:
                outcomes.append(exc if isinstance(exc, StoreError) else self._error(exc))
        return outcomes

    async def _insert_batch(self, deliveries: list[Delivery]) -> list[bool | Exception]:
        async with self._connection() as conn, conn.transaction():
            await lock(conn, INBOX_LOCK)
            return [await insert_delivery(conn, delivery) for delivery in deliveries]


async def _write_records(conn: Connection, changes: Changes) -> None:
    for statement, params in record_rows.statements(changes.records, record_rows.POSTGRES):
        await conn.execute(statement, *params)
