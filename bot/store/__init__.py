"""Persistence for the App: the webhook inbox, trunk facts, alerts, installations.

`open_store(url)` picks the backend from a `TRUNKWATCH_DATABASE_URL`:

- `sqlite:///relative.db`: a file relative to the working directory;
- `sqlite:////absolute/path.db`: an absolute path (four slashes);
- `sqlite://:memory:` (or `sqlite:///:memory:`): a private in-memory database, for tests;
- `postgresql://user:password@host:5432/dbname` (or `postgres://`): a PostgreSQL database that
  several replicas may share. Query parameters are libpq's connection options (`sslmode`, …);
  any others become server settings, e.g. `?search_path=trunkwatch`.
"""

from __future__ import annotations

from bot.store.base import (
    Changes,
    Delivery,
    DeliveryStatus,
    Installation,
    Store,
    StoredCommit,
    StoreError,
)
from bot.store.postgres import PostgresStore
from bot.store.sqlite import SQLiteStore

__all__ = [
    "Changes",
    "Delivery",
    "DeliveryStatus",
    "Installation",
    "PostgresStore",
    "SQLiteStore",
    "Store",
    "StoreError",
    "StoredCommit",
    "open_store",
]

DEFAULT_DATABASE_URL = "sqlite:///trunkwatch.db"

ACCEPTED_FORMS = (
    "sqlite:///relative/path.db, sqlite:////absolute/path.db, sqlite://:memory:,"
    " postgresql://user@host:5432/dbname"
)

_SQLITE_PREFIX = "sqlite://"
_POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg")
_MEMORY = ":memory:"


def open_store(url: str) -> Store:
    """The store a database URL names, not yet opened (call `await store.open()`).

    Raises ValueError for a URL that is not one of the accepted forms."""
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower() in _POSTGRES_SCHEMES:
        # asyncpg knows postgresql:// and postgres://; `+asyncpg` is SQLAlchemy's spelling.
        return PostgresStore("postgresql://" + rest)
    if not url.lower().startswith(_SQLITE_PREFIX):
        raise ValueError(
            f"TRUNKWATCH_DATABASE_URL {url!r} is not a database URL trunkwatch understands;"
            f" accepted forms: {ACCEPTED_FORMS}"
        )
    return SQLiteStore(sqlite_path(url))


def sqlite_path(url: str) -> str:
    """The file path (or ":memory:") of a sqlite:// URL, SQLAlchemy-style."""
    rest = url[len(_SQLITE_PREFIX) :]
    if rest in (_MEMORY, "/" + _MEMORY):
        return _MEMORY
    if "?" in rest:
        raise ValueError(f"database URL {url!r}: query parameters are not supported")
    if not rest.startswith("/") or rest == "/":
        raise ValueError(f"database URL {url!r} names no file; accepted forms: {ACCEPTED_FORMS}")
    # sqlite:///x.db → "x.db" (relative); sqlite:////var/x.db → "/var/x.db" (absolute).
    return rest[1:]
