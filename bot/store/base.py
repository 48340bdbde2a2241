"""The store's interface: what the rest of the App may ask of persistence.

Two backends implement it: SQLite (embedded default) and PostgreSQL (several replicas). Every
method is async so that both fit; the SQLite backend does its work on one dedicated thread.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from bot.records import Escalation
from bot.tracker.model import AlertState, CommitInfo, JobResult

R = TypeVar("R")


class StoreError(Exception):
    """The store could not do what was asked: unreachable, unknown delivery, a violated
    constraint, a schema newer than this code. The backend's own error is its __cause__."""


class DeliveryStatus(enum.Enum):
    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One webhook delivery as the inbox holds it."""

    delivery_id: str
    event: str
    repo: str  # "owner/name", or "" for events without a repository (installation)
    installation_id: int | None
    body: bytes  # the raw JSON body, exactly as received
    received_at: float  # unix seconds
    attempts: int = 0
    status: DeliveryStatus = DeliveryStatus.PENDING
    last_error: str = ""


@dataclass(frozen=True, slots=True)
class StoredCommit:
    """A trunk commit with the commit that precedes it on the branch."""

    repo: str
    branch: str
    commit: CommitInfo
    parent: str | None  # the previous trunk commit (push `before` for the first), if known


@dataclass(frozen=True, slots=True)
class Installation:
    installation_id: int
    account: str
    repos: tuple[str, ...]
    suspended: bool = False


@dataclass(slots=True)
class Changes:
    """Everything one processed delivery writes; committed in one transaction with its
    completion, so a crash leaves either all of it or none of it."""

    commits: list[StoredCommit]
    results: list[JobResult]
    alerts: list[AlertState]
    records: list[Any]  # `bot.records` records to write, and `Removal`s, in order

    def __init__(self) -> None:
        self.commits = []
        self.results = []
        self.alerts = []
        self.records = []

    def __bool__(self) -> bool:
        return bool(self.commits or self.results or self.alerts or self.records)

    def repos(self) -> list[str]:
        """The repositories written to, sorted: the order writers lock them in."""
        written = {c.repo for c in self.commits} | {r.repo for r in self.results}
        return sorted(written | {a.repo for a in self.alerts})


class Store(Protocol):
    """Persistence for the App. Implementations: SQLiteStore and PostgresStore."""

    async def open(self) -> None:
        """Connect, and create or migrate the schema to the newest version."""

    async def close(self) -> None: ...

    async def schema_version(self) -> int: ...

    # --- the inbox -------------------------------------------------------------------
    async def add_delivery(self, delivery: Delivery) -> bool:
        """Durably record a delivery. False when its id was seen before (nothing written).
        Returns only once the delivery is committed to disk."""

    async def claim_next(self, worker: str, now: float, lease_seconds: float) -> Delivery | None:
        """The oldest deliverable delivery, marked PROCESSING for `worker` until now+lease.

        Per repository, deliveries are handed out strictly in arrival order and one at a
        time: a repository with a delivery being processed (unexpired lease) or waiting for
        a retry (next attempt in the future) yields nothing until that one is finished.
        Deliveries whose lease expired are claimable again (a crashed worker's)."""

    async def release_claims(self) -> int:
        """Return every claimed, unfinished delivery to the queue. Called when a single-replica
        App starts: claims left by its previous process (killed mid-delivery) are void."""

    async def complete(self, delivery_id: str, changes: Changes) -> None:
        """Write `changes` and mark the delivery DONE, in one transaction."""

    async def fail(self, delivery_id: str, error: str, retry_at: float | None) -> None:
        """Record a failed attempt: PENDING again with its next attempt at `retry_at`, or
        DEAD (kept, with its error) when `retry_at` is None."""

    async def inbox_stats(self, now: float) -> tuple[int, float]:
        """(pending deliveries, age in seconds of the oldest pending one, 0 if none)."""

    async def get_delivery(self, delivery_id: str) -> Delivery | None: ...

    async def dead_deliveries(self) -> list[Delivery]: ...

    async def prune_deliveries(self, received_before: float) -> int:
        """Forget DONE deliveries received before the given time (their ids then no longer
        dedupe redeliveries). DEAD ones are kept. Returns how many were removed."""

    # --- trunk facts -----------------------------------------------------------------
    async def load_commits(self, repo: str, branch: str | None = None) -> list[StoredCommit]:
        """Commits of a repository (one branch, or all), in the order they were recorded."""

    async def load_results(self, repo: str) -> list[JobResult]: ...

    async def load_results_for(self, repo: str, shas: Sequence[str]) -> list[JobResult]:
        """The results recorded for these commits of the repository, in the order recorded."""

    async def load_alerts(self, repo: str) -> list[AlertState]: ...

    async def open_alerts(self) -> list[AlertState]:
        """Every open alert of every repository (for /metrics), by repo, branch, group."""

    async def save_changes(self, changes: Changes) -> None:
        """Write changes outside of a delivery (a slash command, a recheck), one transaction."""

    async def prune(self, repo: str, branch: str, keep_shas: Sequence[str]) -> int:
        """Delete commits of the branch not in `keep_shas`, with their job results.
        Returns how many commits were removed."""

    async def repo_version(self, repo: str) -> int:
        """How many times the repository's facts were changed: bumped in the same transaction
        as every `complete`, `save_changes` or `prune` that writes its commits, results or
        alerts; 0 for a repository never written.

        With several replicas, one that keeps a repository loaded in memory compares this
        with the version it loaded (plus its own writes) before using it: a difference means
        another replica changed the repository since, and it must reload."""

    # --- installations ---------------------------------------------------------------
    async def save_installation(self, installation: Installation) -> None: ...

    async def delete_installation(self, installation_id: int) -> None: ...

    async def installations(self) -> list[Installation]: ...

    async def installation_for_repo(self, repo: str) -> int | None: ...

    # --- recovering missed deliveries --------------------------------------------------
    async def take_lease(self, name: str, holder: str, now: float, seconds: float) -> bool:
        """Hold the lease `name` until now + seconds, if it is free, expired, or `holder`'s
        already. False when another holder has it."""

    async def hook_cursor(self) -> int:
        """The newest of GitHub's hook delivery ids already looked at; 0 before the first."""

    async def save_hook_cursor(self, newest_id: int, now: float) -> None: ...

    async def known_deliveries(self, delivery_ids: Sequence[str]) -> set[str]:
        """Which of these delivery ids (GUIDs) the inbox holds, in any status."""

    async def redeliveries_asked(self, guids: Sequence[str]) -> dict[str, tuple[int, int]]:
        """For each of these GUIDs asked for before: (the attempt id asked about, how many
        times it was asked for)."""

    async def record_redelivery(self, guid: str, hook_delivery_id: int, now: float) -> None:
        """Note that `guid` was asked for again, about attempt `hook_delivery_id`."""

    # --- typed records (bot.records): written through Changes.records ------------
    async def get_record(self, kind: type[R], *key: Any) -> R | None:
        """The record of `kind` with this primary key, or None."""

    async def find_records(self, kind: type[R], **where: Any) -> list[R]:
        """The records of `kind` whose fields equal `where`, in key order."""

    async def claim_escalations(self, now: float, seconds: float, limit: int) -> list[Escalation]:
        """Pending escalations due by `now` that no replica is firing, each marked as being
        fired until now + seconds; concurrent callers never get the same one."""

    async def state_items(self, namespace: str) -> list[tuple[str, Any]]:
        """Every (key, value) of a key/value namespace (to carry old state over)."""

    # --- small key/value state for other parts (caches, a command's done-marks) --------
    async def get_state(self, namespace: str, key: str) -> Any | None:
        """A JSON value stored under (namespace, key), or None."""

    async def put_state(self, namespace: str, key: str, value: Any) -> None: ...
