"""`Records`: the typed records as one delivery sees them.

Reads are the store's records with the delivery's own pending writes applied; writes go to
the delivery's `Changes`, committed in the transaction that marks it done (so a delivery
that fails leaves none of them, and its retry finds what it did on GitHub by the markers).
Outside a delivery (a periodic job, a test) each write is its own transaction.
"""

from __future__ import annotations

import copy
from typing import Any, TypeVar

from bot.records import Removal, key_of
from bot.store.base import Changes, Store

R = TypeVar("R")


class Records:
    def __init__(self, store: Store, changes: Changes | None = None) -> None:
        self.store = store
        self.changes = changes

    def at_once(self) -> Records:
        """The same records, each write its own transaction (a claim made before a call)."""
        return Records(self.store)

    async def get(self, kind: type[R], *key: Any) -> R | None:
        for write in reversed(self._pending()):
            if _is(write, kind) and _key(write) == key:
                return None if isinstance(write, Removal) else copy.deepcopy(write)
        return await self.store.get_record(kind, *key)

    async def find(self, kind: type[R], **where: Any) -> list[R]:
        found: dict[tuple[Any, ...], Any] = {
            key_of(record): record for record in await self.store.find_records(kind, **where)
        }
        for write in self._pending():
            if not _is(write, kind):
                continue
            key = _key(write)
            if isinstance(write, Removal) or any(getattr(write, k) != v for k, v in where.items()):
                found.pop(key, None)
            else:
                found[key] = copy.deepcopy(write)
        return list(found.values())

    async def put(self, record: Any) -> None:
        await self._write(copy.deepcopy(record))

    async def remove(self, kind: type[Any], *key: Any) -> None:
        await self._write(Removal(kind, tuple(key)))

    async def _write(self, write: Any) -> None:
        if self.changes is not None:
            self.changes.records.append(write)
            return
        changes = Changes()
        changes.records.append(write)
        await self.store.save_changes(changes)

    def _pending(self) -> list[Any]:
        return self.changes.records if self.changes is not None else []


def records_of(where: Store | Records) -> Records:
    """A delivery's `Records` as given, or a store's (each write its own transaction)."""
    return where if isinstance(where, Records) else Records(where)


def _is(write: Any, kind: type[Any]) -> bool:
    return (write.kind if isinstance(write, Removal) else type(write)) is kind


def _key(write: Any) -> tuple[Any, ...]:
    return write.key if isinstance(write, Removal) else key_of(write)
