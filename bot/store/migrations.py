"""Applying the schema's migrations to a SQLite database, each in its own transaction.

A database records in `schema_version` every version applied to it. Opening it applies the
newer migrations only, each in its own transaction together with its `schema_version` row,
so a crash mid-migration leaves the previous version intact.
"""

from __future__ import annotations

import sqlite3
import time

from bot.store.base import StoreError
from bot.store.schema import (
    LATEST_VERSION,
    MIGRATIONS,
    OPEN_STATUSES,
    REPO_VERSIONS_SINCE,
    Migration,
    check_order,
)

# The schema's names, for the modules that import them from here.
__all__ = [
    "LATEST_VERSION",
    "MIGRATIONS",
    "OPEN_STATUSES",
    "REPO_VERSIONS_SINCE",
    "Migration",
    "current_version",
    "migrate",
]


def current_version(conn: sqlite3.Connection) -> int:
    """The newest version applied to the database; 0 for a new one."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER NOT NULL PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
    )
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(
    conn: sqlite3.Connection,
    target: int | None = None,
    migrations: tuple[Migration, ...] = MIGRATIONS,
) -> list[int]:
    """Bring the database up to `target` (the newest by default). Returns the versions applied.

    `conn` must be in autocommit mode (isolation_level=None): each migration is its own
    explicit transaction."""
    check_order(migrations)
    newest = migrations[-1].version if migrations else 0
    target = newest if target is None else target
    if not 0 <= target <= newest:
        raise ValueError(f"no schema version {target}; the newest is {newest}")
    found = current_version(conn)
    if found > newest:
        raise StoreError(
            f"the database has schema version {found}, newer than this trunkwatch knows "
            f"({newest}); upgrade trunkwatch"
        )
    applied = []
    for migration in migrations:
        if not found < migration.version <= target:
            continue
        # BEGIN IMMEDIATE takes the write lock, so two processes opening the same new
        # database cannot both apply one migration; re-read the version under the lock.
        conn.execute("BEGIN IMMEDIATE")
        try:
            if migration.version > current_version(conn):
                for statement in migration.statements:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (migration.version, time.time()),
                )
                applied.append(migration.version)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return applied
