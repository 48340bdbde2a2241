"""What the actions keep, and where: the record book, and the few calls they make of the store.

The actions never import the store. They are given a `RecordBook` (the store's `Records`: the
typed records of bot/records.py as one delivery sees them, its writes committed with the
delivery) and reach the store through it for the rest (`ActionStore`). The store's classes
satisfy these Protocols structurally; mypy checks it where they are passed in.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from bot.records import Escalation

R = TypeVar("R")


class ActionStore(Protocol):
    """The store's calls the actions make themselves (`bot.store.base.Store` has them all)."""

    # the cache of commits' pull requests
    async def get_state(self, namespace: str, key: str) -> Any | None: ...

    async def put_state(self, namespace: str, key: str, value: Any) -> None: ...

    # one revert opened at a time, whoever asks
    async def take_lease(self, name: str, holder: str, now: float, seconds: float) -> bool: ...

    # escalations fired once across replicas
    async def claim_escalations(
        self, now: float, seconds: float, limit: int
    ) -> list[Escalation]: ...

    async def installation_for_repo(self, repo: str) -> int | None: ...


class RecordBook(Protocol):
    """The typed records (bot/records.py), read and written by kind and primary key."""

    @property
    def store(self) -> ActionStore: ...

    def at_once(self) -> RecordBook:
        """The same records, each write committed at once (seen by every replica before a
        call to GitHub is made), outside of any delivery."""
        ...

    async def get(self, kind: type[R], *key: Any) -> R | None: ...

    async def find(self, kind: type[R], **where: Any) -> list[R]: ...

    async def put(self, record: Any) -> None: ...

    async def remove(self, kind: type[Any], *key: Any) -> None: ...
