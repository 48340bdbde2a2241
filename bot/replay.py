"""`trunkwatch replay`: recorded deliveries through the App, actions to a dry-run sink."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bot.actions.dryrun import DryRunSink
from bot.engine import Engine, RepoConfigLike
from bot.handlers import EVENTS, router
from bot.store import open_store
from bot.store.base import Delivery
from bot.worker import Worker


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

    async def for_repo(self, gh: Any, repo: str, default_branch: str) -> RepoConfigLike | None:
        return self._config

    def invalidate(self, repo: str) -> None:
        """A fixed configuration never changes."""


async def replay(path: Path, config: RepoConfigLike, out: IO[str], as_json: bool) -> DryRunSink:
    """Feed every delivery of `path`, in file order, through the App; return the sink."""
    sink = DryRunSink(out, as_json)
    configs = FixedConfig(config)
    with tempfile.TemporaryDirectory(prefix="trunkwatch-replay-") as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'replay.db'}")
        await store.open()
        try:
            engine = Engine(store, configs)
            worker = Worker(store, engine, router, sink, configs, github=None, max_attempts=1)
            for recorded in read_deliveries(path):
                if recorded.event not in EVENTS:
                    continue
                repository = recorded.payload.get("repository") or {}
                installation = recorded.payload.get("installation") or {}
                await store.add_delivery(
                    Delivery(
                        delivery_id=recorded.delivery_id,
                        event=recorded.event,
                        repo=str(repository.get("full_name") or ""),
                        installation_id=installation.get("id"),
                        body=json.dumps(recorded.payload).encode(),
                        received_at=time.time(),
                    )
                )
                await worker.drain()
            dead = await store.dead_deliveries()
            if dead:
                raise ReplayError(
                    "; ".join(f"delivery {d.delivery_id} ({d.event}): {d.last_error}" for d in dead)
                )
        finally:
            await store.close()
    return sink
