"""`trunkwatch replay`: recorded deliveries through the App, actions to a dry-run sink."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from gidgethub import sansio
from gidgethub.abc import GitHubAPI

from bot.actions.dryrun import DryRunSink
from bot.engine import DecisionSink, Engine, RepoConfigLike, Unit
from bot.handlers import EVENTS, router
from bot.runtime.worker import Worker
from bot.store.memory import MemoryStore

# Stored facts beyond the trackers' retention are dropped this often (in deliveries).
PRUNE_EVERY = 10_000
# Delivery ids are remembered for between one and two generations of this many deliveries,
# as the inbox forgets the ids of old deliveries: memory stays bounded on a long history.
SEEN_GENERATION = 50_000
# Strings that repeat from delivery to delivery (a job's name on every commit, a commit's
# sha in each of its jobs): kept once, since the tracker holds every result it retains.
SHARED_FIELDS = {
    "workflow_job": (
        "workflow_job",
        (
            "head_sha",
            "name",
            "workflow_name",
            "head_branch",
            "status",
            "conclusion",
            "completed_at",
        ),
    ),
    "workflow_run": (
        "workflow_run",
        ("head_sha", "name", "head_branch", "status", "conclusion", "event"),
    ),
}


class ReplayError(Exception):
    """A line of the replay file is not a delivery; the message names the line."""


@dataclass(frozen=True)
class RecordedDelivery:
    event: str
    delivery_id: str
    payload: dict[str, Any]


def read_deliveries(path: Path) -> Iterator[RecordedDelivery]:
    """`{"event": …, "delivery_id": …, "payload": {…}}` per line; blank lines skipped."""
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ReplayError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise ReplayError(f"{path}:{number}: expected an object")
            event, delivery_id, payload = (
                record.get("event"),
                record.get("delivery_id"),
                record.get("payload"),
            )
            if not isinstance(event, str) or not event:
                raise ReplayError(f"{path}:{number}: 'event' must be a non-empty string")
            if not isinstance(delivery_id, str) or not delivery_id:
                raise ReplayError(f"{path}:{number}: 'delivery_id' must be a non-empty string")
            if not isinstance(payload, dict):
                raise ReplayError(f"{path}:{number}: 'payload' must be an object")
            yield RecordedDelivery(event, delivery_id, payload)


class FixedConfig:
    """The same configuration for every repository (replay, demo)."""

    def __init__(self, config: RepoConfigLike) -> None:
        self._config = config

    async def for_repo(
        self, gh: GitHubAPI | None, repo: str, default_branch: str
    ) -> RepoConfigLike | None:
        return self._config

    def invalidate(self, repo: str) -> None:
        """A fixed configuration never changes."""


class Replayer:
    """Decisions for a stream of deliveries at the tracker's pace: no inbox, no thread, no
    disk. Each delivery goes through the same router, engine and sink as in the worker; its
    facts go to an in-memory store that retention keeps bounded."""

    def __init__(
        self, config: RepoConfigLike, sink: DecisionSink, gh: GitHubAPI | None = None
    ) -> None:
        """`gh`: a GitHub client for what the handlers read from the API (the jobs of a
        run, when the history has no `workflow_job` deliveries); None reads nothing."""
        self.sink = sink
        self.gh = gh
        self.configs = FixedConfig(config)
        self.store = MemoryStore()
        self.engine = Engine(self.store, self.configs)
        # Only for `act`: the worker's way of acting on a unit's decisions, and on those that
        # acting leads to.
        self._acts = Worker(self.store, self.engine, router, sink, self.configs, github=None)
        # Hashes of the delivery ids seen: a repeated delivery changes nothing, as in the inbox.
        self._seen: set[int] = set()
        self._seen_before: set[int] = set()
        self.processed = 0
        self.dead: list[tuple[RecordedDelivery, str]] = []

    async def feed(self, recorded: RecordedDelivery) -> None:
        if recorded.event not in EVENTS:
            return
        seen = hash(recorded.delivery_id)
        if seen in self._seen or seen in self._seen_before:
            return
        if len(self._seen) >= SEEN_GENERATION:
            self._seen_before, self._seen = self._seen, set()
        self._seen.add(seen)
        _share_strings(recorded.event, recorded.payload)
        unit = Unit(recorded.delivery_id)
        event = sansio.Event(
            recorded.payload, event=recorded.event, delivery_id=recorded.delivery_id
        )
        try:
            await router.dispatch(
                event,
                self.gh,
                engine=self.engine,
                store=self.store,
                config=self.configs,
                unit=unit,
                sink=self.sink,
            )
            await self._acts.act(unit, self.gh)
            await self.store.save_changes(unit.changes)
            self.engine.committed(unit)
        except Exception as exc:
            # As the worker does with a delivery that fails its last attempt: kept as dead,
            # the repository reloaded from what was stored.
            repository = recorded.payload.get("repository")
            if isinstance(repository, dict):
                self.engine.forget(str(repository.get("full_name") or ""))
            self.dead.append((recorded, f"{type(exc).__name__}: {exc}"[:500]))
        self.processed += 1
        if self.processed % PRUNE_EVERY == 0:
            self.drop_retired()

    def drop_retired(self) -> None:
        """Drop stored commits (and results) that the trackers no longer hold."""
        for repo in self.store.repos():
            tracker = self.engine.loaded(repo)
            if tracker is None:
                continue
            for branch in tracker.config.branches:
                keep = [commit.sha for commit in tracker.trunk(branch)]
                if keep:
                    self.store.drop_retired(repo, branch, keep)


def _share_strings(event: str, payload: dict[str, Any]) -> None:
    key, fields = SHARED_FIELDS.get(event, ("", ()))
    inner = payload.get(key)
    if isinstance(inner, dict):
        for name in fields:
            value = inner.get(name)
            if isinstance(value, str):
                inner[name] = sys.intern(value)
    repository = payload.get("repository")
    if isinstance(repository, dict) and isinstance(repository.get("full_name"), str):
        repository["full_name"] = sys.intern(repository["full_name"])


async def replay(path: Path, config: RepoConfigLike, out: IO[str], as_json: bool) -> DryRunSink:
    """Feed every delivery of `path`, in file order, through the App; return the sink."""
    sink = DryRunSink(out, as_json)
    replayer = Replayer(config, sink)
    for recorded in read_deliveries(path):
        await replayer.feed(recorded)
    if replayer.dead:
        raise ReplayError(
            "; ".join(
                f"delivery {d.delivery_id} ({d.event}): {error}" for d, error in replayer.dead
            )
        )
    return sink
