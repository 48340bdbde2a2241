"""A PostgreSQL database reached through an asyncpg pool: opening it (and migrating its
schema, under an advisory lock), connections whose errors come out as `StoreError`, and the
DSN kept out of every message (`redact`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import asyncpg

from bot.store.base import StoreError
from bot.store.postgres_rows import current_version, migrate, redact
from bot.store.schema import REPO_VERSIONS_SINCE

if TYPE_CHECKING:
    from bot.store.postgres_rows import Connection

CONNECT_TIMEOUT_SECONDS = 10.0

# What a failing database call may raise: the server's errors, asyncpg's own (a value it
# cannot encode, a closed connection), and the network's (timeouts are OSErrors too).
DATABASE_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)


class PostgresPool:
    """The pool of one store, opened on `open` and closed on `close`."""

    def __init__(
        self,
        dsn: str,
        *,
        migrate_to: int | None = None,
        min_connections: int = 1,
        max_connections: int = 10,
    ) -> None:
        """`dsn`: a postgresql:// URL (query parameters that are not connection options
        become server settings, e.g. `?search_path=trunkwatch`). `migrate_to` stops the
        schema at an older version (for migration tests)."""
        self.dsn = dsn
        self._migrate_to = migrate_to
        self._sizes = (min_connections, max_connections)
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None
        self._counts_versions = True

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redact(self.dsn)!r})"

    async def open(self) -> None:
        if self._pool is not None:
            return
        min_size, max_size = self._sizes
        try:
            pool = await asyncpg.create_pool(
                self.dsn,
                min_size=min_size,
                max_size=max_size,
                timeout=CONNECT_TIMEOUT_SECONDS,
            )
        except (*DATABASE_ERRORS, ValueError) as exc:  # ValueError: a malformed DSN
            raise self._error(exc) from exc
        try:
            async with pool.acquire() as conn:
                await migrate(conn, self._migrate_to)
                self._counts_versions = await current_version(conn) >= REPO_VERSIONS_SINCE
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, DATABASE_ERRORS):
                raise self._error(exc) from exc
            raise
        self._pool = pool

    async def close(self) -> None:
        pool = self._pool
        if pool is None:
            return
        self._pool = None
        await pool.close()

    def _pool_or_raise(self) -> asyncpg.Pool[asyncpg.Record]:
        if self._pool is None:
            raise StoreError(f"{self!r} is not open")
        return self._pool

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        """A pooled connection; database errors inside come out as StoreError."""
        pool = self._pool_or_raise()
        try:
            async with pool.acquire() as conn:
                yield conn
        except DATABASE_ERRORS as exc:
            raise self._error(exc) from exc

    async def _execute(self, query: str, *params: Any) -> str:
        async with self._connection() as conn:
            return str(await conn.execute(query, *params))

    async def _fetch(self, query: str, *params: Any) -> list[asyncpg.Record]:
        async with self._connection() as conn:
            return list(await conn.fetch(query, *params))

    async def _fetchrow(self, query: str, *params: Any) -> asyncpg.Record | None:
        async with self._connection() as conn:
            return await conn.fetchrow(query, *params)

    async def _fetchval(self, query: str, *params: Any) -> Any:
        async with self._connection() as conn:
            return await conn.fetchval(query, *params)

    def _error(self, exc: BaseException) -> StoreError:
        error = StoreError(f"{redact(self.dsn)}: {type(exc).__name__}: {exc}")
        error.__cause__ = exc
        return error
