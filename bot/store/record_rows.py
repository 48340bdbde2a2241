"""The typed records' rows: statements and conversions shared by both backends.

A record's columns are its dataclass fields (renamed by `records.column`); lists and
mappings go to TEXT as JSON, booleans to BOOLEAN. Statements come in two dialects that
differ only in their placeholders (`?` for SQLite, `$1…` for PostgreSQL).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from bot.records import Removal, column
from bot.store import codec
from bot.store.sqlite_rows import NamedRow

SQLITE, POSTGRES = "sqlite", "postgres"


_KINDS: dict[type[Any], dict[str, str]] = {}


def _kinds(kind: type[Any]) -> dict[str, str]:
    """field name → "json" | "bool" | "float" | "plain"."""
    known = _KINDS.get(kind)
    if known is not None:
        return known
    out = {}
    for f in fields(kind):
        annotation = str(f.type)
        if annotation.startswith(("list", "dict")):
            out[f.name] = "json"
        elif annotation == "bool":
            out[f.name] = "bool"
        elif annotation.startswith("float"):
            out[f.name] = "float"
        else:
            out[f.name] = "plain"
    _KINDS[kind] = out
    return out


def _marks(dialect: str, count: int, start: int = 1) -> list[str]:
    if dialect == SQLITE:
        return ["?"] * count
    return [f"${n}" for n in range(start, start + count)]


def columns(kind: type[Any]) -> str:
    return ", ".join(column(name) for name in _kinds(kind))


def select(kind: type[Any], dialect: str, where: Sequence[str]) -> str:
    conditions = [
        f"{column(name)} = {mark}"
        for name, mark in zip(where, _marks(dialect, len(where)), strict=True)
    ]
    clause = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    order = ", ".join(column(name) for name in kind.KEY)
    return f"SELECT {columns(kind)} FROM {kind.TABLE}{clause} ORDER BY {order}"


def upsert(kind: type[Any], dialect: str) -> str:
    names = list(_kinds(kind))
    keys = ", ".join(column(name) for name in kind.KEY)
    others = [name for name in names if name not in kind.KEY]
    updates = ", ".join(f"{column(name)} = excluded.{column(name)}" for name in others)
    action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    return (
        f"INSERT INTO {kind.TABLE} ({columns(kind)})"
        f" VALUES ({', '.join(_marks(dialect, len(names)))}) ON CONFLICT ({keys}) {action}"
    )


def delete(kind: type[Any], dialect: str) -> str:
    conditions = [
        f"{column(name)} = {mark}"
        for name, mark in zip(kind.KEY, _marks(dialect, len(kind.KEY)), strict=True)
    ]
    return f"DELETE FROM {kind.TABLE} WHERE {' AND '.join(conditions)}"


def to_row(record: Any) -> list[Any]:
    row = []
    for name, kind in _kinds(type(record)).items():
        value = getattr(record, name)
        row.append(codec.dumps(value) if kind == "json" and value is not None else value)
    return row


def from_row(kind: type[Any], row: NamedRow) -> Any:
    """A record from a row read by name (sqlite3.Row and asyncpg's Record both do)."""
    values: dict[str, Any] = {}
    for name, how in _kinds(kind).items():
        value = row[column(name)]
        if value is not None and how == "json":
            value = json.loads(value)
        elif value is not None and how == "bool":
            value = bool(value)
        elif value is not None and how == "float":
            value = float(value)
        values[name] = value
    return kind(**values)


def statements(writes: Sequence[Any], dialect: str) -> list[tuple[str, list[Any]]]:
    """The (statement, parameters) that apply `Changes.records`, in order."""
    out: list[tuple[str, list[Any]]] = []
    for write in writes:
        if isinstance(write, Removal):
            out.append((delete(write.kind, dialect), list(write.key)))
        else:
            out.append((upsert(type(write), dialect), to_row(write)))
    return out
