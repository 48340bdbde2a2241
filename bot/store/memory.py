"""The Store in process memory, for `trunkwatch replay` and `backtest`.

Nothing outlives the process, so nothing is written to disk and no call waits on a thread:
facts cost what a dict update costs. Facts are kept as the other backends keep them (the
engine reloads a repository from them after a failed delivery), and `prune` bounds them.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Sequence
from typing import Any, TypeVar

from bot.records import PENDING, Escalation, Removal, key_of
from bot.store.base import (
    Changes,
    Delivery,
    DeliveryStatus,
    Installation,
    StoredCommit,
    StoreError,
)
from bot.store.schema import LATEST_VERSION
from bot.tracker.model import AlertState, JobResult

ResultKey = tuple[int, int, str, int]  # run_id, run_attempt, job, job_id (per repository)
R = TypeVar("R")


class MemoryStore:
    """Every method of the Store protocol, over dicts."""

    def __init__(self) -> None:
        self._deliveries: dict[str, Delivery] = {}  # in arrival order
        self._claims: dict[str, tuple[str, float]] = {}  # delivery → (worker, lease end)
        self._retry_at: dict[str, float] = {}
        # repo → (branch, sha) → commit, in recording order (a re-recorded commit keeps its place)
        self._commits: dict[str, dict[tuple[str, str], StoredCommit]] = {}
        # repo → (branch, head_sha) → results as saved; a result saved again is appended and
        # the last copy wins when loaded (a list costs a slot per result, a key much more).
        self._results: dict[str, dict[tuple[str, str], list[JobResult]]] = {}
        self._alerts: dict[str, dict[str, AlertState]] = {}
        self._versions: dict[str, int] = {}
        self._installations: dict[int, Installation] = {}
        self._state: dict[tuple[str, str], str] = {}
        # record type → key → record (kept as written; handed out as copies, like rows)
        self._records: dict[type[Any], dict[tuple[Any, ...], Any]] = {}
        self._leases: dict[str, tuple[str, float]] = {}  # name → (holder, until)
        self._hook_cursor = 0
        self._redeliveries: dict[str, tuple[int, int]] = {}  # guid → (attempt id, requests)
        self._open = False

    def __repr__(self) -> str:
        return "MemoryStore()"

    async def open(self) -> None:
        self._open = True

    async def close(self) -> None:
        self._open = False

    async def schema_version(self) -> int:
        return LATEST_VERSION

    # --- the inbox -------------------------------------------------------------------
    async def add_delivery(self, delivery: Delivery) -> bool:
        if delivery.delivery_id in self._deliveries:
            return False
        self._deliveries[delivery.delivery_id] = delivery
        return True

    async def claim_next(self, worker: str, now: float, lease_seconds: float) -> Delivery | None:
        busy: set[str] = set()
        for delivery in self._deliveries.values():
            if delivery.status in (DeliveryStatus.DONE, DeliveryStatus.DEAD):
                continue
            if delivery.repo in busy:
                continue
            claim = self._claims.get(delivery.delivery_id)
            waiting = self._retry_at.get(delivery.delivery_id, 0.0) > now
            if (claim is not None and claim[1] > now) or waiting:
                if delivery.repo:
                    busy.add(delivery.repo)
                continue
            self._claims[delivery.delivery_id] = (worker, now + lease_seconds)
            claimed = dataclasses.replace(delivery, status=DeliveryStatus.PROCESSING)
            self._deliveries[delivery.delivery_id] = claimed
            return claimed
        return None

    async def release_claims(self) -> int:
        released = 0
        for delivery_id in list(self._claims):
            delivery = self._deliveries[delivery_id]
            if delivery.status is DeliveryStatus.PROCESSING:
                self._deliveries[delivery_id] = dataclasses.replace(
                    delivery, status=DeliveryStatus.PENDING
                )
                released += 1
            del self._claims[delivery_id]
        return released

    def _unfinished(self, delivery_id: str) -> Delivery:
        delivery = self._deliveries.get(delivery_id)
        if delivery is None:
            raise StoreError(f"unknown delivery {delivery_id!r}")
        return delivery

    async def complete(self, delivery_id: str, changes: Changes) -> None:
        delivery = self._unfinished(delivery_id)
        if delivery.status in (DeliveryStatus.DONE, DeliveryStatus.DEAD):
            return
        await self.save_changes(changes)
        self._claims.pop(delivery_id, None)
        self._deliveries[delivery_id] = dataclasses.replace(delivery, status=DeliveryStatus.DONE)

    async def fail(self, delivery_id: str, error: str, retry_at: float | None) -> None:
        delivery = self._unfinished(delivery_id)
        if delivery.status in (DeliveryStatus.DONE, DeliveryStatus.DEAD):
            return
        self._claims.pop(delivery_id, None)
        status = DeliveryStatus.DEAD if retry_at is None else DeliveryStatus.PENDING
        if retry_at is not None:
            self._retry_at[delivery_id] = retry_at
        self._deliveries[delivery_id] = dataclasses.replace(
            delivery, status=status, attempts=delivery.attempts + 1, last_error=error
        )

    async def inbox_stats(self, now: float) -> tuple[int, float]:
        pending = [
            d
            for d in self._deliveries.values()
            if d.status in (DeliveryStatus.PENDING, DeliveryStatus.PROCESSING)
        ]
        oldest = min((d.received_at for d in pending), default=now)
        return len(pending), max(now - oldest, 0.0) if pending else 0.0

    async def get_delivery(self, delivery_id: str) -> Delivery | None:
        return self._deliveries.get(delivery_id)

    async def dead_deliveries(self) -> list[Delivery]:
        return [d for d in self._deliveries.values() if d.status is DeliveryStatus.DEAD]

    async def prune_deliveries(self, received_before: float) -> int:
        doomed = [
            d.delivery_id
            for d in self._deliveries.values()
            if d.status is DeliveryStatus.DONE and d.received_at < received_before
        ]
        for delivery_id in doomed:
            del self._deliveries[delivery_id]
        return len(doomed)

    # --- trunk facts -----------------------------------------------------------------
    async def load_commits(self, repo: str, branch: str | None = None) -> list[StoredCommit]:
        commits = self._commits.get(repo, {}).values()
        return [c for c in commits if branch is None or c.branch == branch]

    async def load_results(self, repo: str) -> list[JobResult]:
        latest: dict[ResultKey, JobResult] = {}
        for results in self._results.get(repo, {}).values():
            for result in results:
                latest[(result.run_id, result.run_attempt, result.job, result.job_id)] = result
        return list(latest.values())

    async def load_results_for(self, repo: str, shas: Sequence[str]) -> list[JobResult]:
        wanted = set(shas)
        return [r for r in await self.load_results(repo) if r.head_sha in wanted]

    async def load_alerts(self, repo: str) -> list[AlertState]:
        return list(self._alerts.get(repo, {}).values())

    async def open_alerts(self) -> list[AlertState]:
        found = [a for alerts in self._alerts.values() for a in alerts.values() if a.open]
        return sorted(found, key=lambda a: (a.repo, a.branch, a.group, a.seq))

    async def save_changes(self, changes: Changes) -> None:
        for commit in changes.commits:
            self._commits.setdefault(commit.repo, {})[(commit.branch, commit.commit.sha)] = commit
        for result in changes.results:
            per_commit = self._results.setdefault(result.repo, {})
            per_commit.setdefault((result.branch, result.head_sha), []).append(result)
        for alert in changes.alerts:
            self._alerts.setdefault(alert.repo, {})[alert.alert] = alert
        for write in changes.records:
            if isinstance(write, Removal):
                self._records.get(write.kind, {}).pop(tuple(write.key), None)
            else:
                self._records.setdefault(type(write), {})[key_of(write)] = copy.deepcopy(write)
        for repo in changes.repos():
            self._versions[repo] = self._versions.get(repo, 0) + 1

    async def prune(self, repo: str, branch: str, keep_shas: Sequence[str]) -> int:
        removed = self.drop_retired(repo, branch, keep_shas)
        if removed:
            self._versions[repo] = self._versions.get(repo, 0) + 1
        return removed

    def repos(self) -> list[str]:
        """The repositories with stored commits."""
        return list(self._commits)

    def drop_retired(self, repo: str, branch: str, keep_shas: Sequence[str]) -> int:
        """`prune` for commits that the repository's one tracker has already dropped by its
        retention: what it holds does not change, so the repository's version does not
        either (a new version would make the engine reload it)."""
        keep = frozenset(keep_shas)
        commits = self._commits.get(repo, {})
        doomed = {sha for b, sha in commits if b == branch and sha not in keep}
        if not doomed:
            return 0
        for sha in doomed:
            del commits[(branch, sha)]
        results = self._results.get(repo, {})
        for sha in doomed:
            results.pop((branch, sha), None)
        return len(doomed)

    async def repo_version(self, repo: str) -> int:
        return self._versions.get(repo, 0)

    # --- installations ---------------------------------------------------------------
    async def save_installation(self, installation: Installation) -> None:
        self._installations[installation.installation_id] = installation

    async def delete_installation(self, installation_id: int) -> None:
        self._installations.pop(installation_id, None)

    async def installations(self) -> list[Installation]:
        return [self._installations[i] for i in sorted(self._installations)]

    async def installation_for_repo(self, repo: str) -> int | None:
        covering = [
            i.installation_id
            for i in self._installations.values()
            if repo in i.repos and not i.suspended
        ]
        return min(covering, default=None)

    # --- recovering missed deliveries --------------------------------------------------
    async def take_lease(self, name: str, holder: str, now: float, seconds: float) -> bool:
        held = self._leases.get(name)
        if held is not None and held[0] != holder and held[1] > now:
            return False
        self._leases[name] = (holder, now + seconds)
        return True

    async def hook_cursor(self) -> int:
        return self._hook_cursor

    async def save_hook_cursor(self, newest_id: int, now: float) -> None:
        self._hook_cursor = newest_id

    async def known_deliveries(self, delivery_ids: Sequence[str]) -> set[str]:
        return {d for d in delivery_ids if d in self._deliveries}

    async def redeliveries_asked(self, guids: Sequence[str]) -> dict[str, tuple[int, int]]:
        return {g: self._redeliveries[g] for g in guids if g in self._redeliveries}

    async def record_redelivery(self, guid: str, hook_delivery_id: int, now: float) -> None:
        _, requests = self._redeliveries.get(guid, (0, 0))
        self._redeliveries[guid] = (hook_delivery_id, requests + 1)

    # --- typed records ---------------------------------------------------------------
    async def get_record(self, kind: type[R], *key: Any) -> R | None:
        record = self._records.get(kind, {}).get(tuple(key))
        return None if record is None else copy.deepcopy(record)

    async def find_records(self, kind: type[R], **where: Any) -> list[R]:
        stored = self._records.get(kind, {})
        return [
            copy.deepcopy(stored[key])
            for key in sorted(stored)
            if all(getattr(stored[key], name) == value for name, value in where.items())
        ]

    async def claim_escalations(self, now: float, seconds: float, limit: int) -> list[Escalation]:
        stored = self._records.get(Escalation, {})
        due = sorted(
            (e for e in stored.values() if e.state == PENDING and e.due <= now),
            key=lambda e: e.due,
        )
        claimed = []
        for escalation in [e for e in due if e.claimed_until <= now][:limit]:
            escalation.claimed_until = now + seconds
            claimed.append(copy.deepcopy(escalation))
        return claimed

    async def state_items(self, namespace: str) -> list[tuple[str, Any]]:
        found = [(k, json.loads(raw)) for (n, k), raw in self._state.items() if n == namespace]
        return sorted(found, key=lambda item: item[0])

    # --- small key/value state -------------------------------------------------------
    async def get_state(self, namespace: str, key: str) -> Any | None:
        # Kept as JSON text so that callers get a fresh value, as from the other backends.
        raw = self._state.get((namespace, key))
        return None if raw is None else json.loads(raw)

    async def put_state(self, namespace: str, key: str, value: Any) -> None:
        """Store a JSON value; None removes the key."""
        if value is None:
            self._state.pop((namespace, key), None)
            return
        self._state[(namespace, key)] = json.dumps(value)
