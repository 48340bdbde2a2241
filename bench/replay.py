"""Deliveries per second through the tracker and the store, and peak memory.

A generated history of about 100,000 deliveries (pushes, job results, run results) goes
through the same path as `trunkwatch replay` (inbox → worker → handlers → tracker → store),
and, as the peer measured in the same run, through the inbox and the worker with handlers
that do nothing: the ratio says what the tracker and the fact-keeping cost on top of the
plumbing.

    python bench/replay.py [--deliveries 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gidgethub import routing

from bot.actions.dryrun import DryRunSink
from bot.config import load_default
from bot.engine import Engine
from bot.handlers import router
from bot.history import Generator, Scenario, default_scenario
from bot.replay import FixedConfig
from bot.store import open_store
from bot.store.base import Delivery
from bot.worker import Worker


def history(deliveries: int) -> Iterator[dict[str, Any]]:
    base = default_scenario()
    per_commit = sum(1 for _ in Generator(Scenario(commits=1)).deliveries())
    commits = max(1, deliveries // per_commit)
    scenario = Scenario(
        commits=commits,
        failures={
            key: {i for start in range(50, commits, 400) for i in range(start, start + 5)}
            for key in base.failures
        },
        flakes={key: set(range(3, commits, 11)) for key in base.flakes},
        infra_blips=set(range(17, commits, 97)),
    )
    return Generator(scenario).deliveries()


async def run(
    records: Iterator[dict[str, Any]], handlers: routing.Router, tmp: Path
) -> tuple[float, int, int]:
    store = open_store(f"sqlite:///{tmp / 'bench.db'}")
    await store.open()
    configs = FixedConfig(load_default())
    sink = DryRunSink(io.StringIO(), as_json=True)
    worker = Worker(store, Engine(store, configs), handlers, sink, configs, max_attempts=1)
    count, elapsed = 0, 0.0
    for record in records:
        body = json.dumps(record["payload"]).encode()  # serialising is not what we measure
        started = time.perf_counter()
        await store.add_delivery(
            Delivery(
                record["delivery_id"], record["event"], "pytorch/pytorch", 1, body, time.time()
            )
        )
        await worker.drain()
        elapsed += time.perf_counter() - started
        count += 1
    await store.close()
    return elapsed, count, len(sink.records)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        peer_dir, full_dir = Path(tmp) / "peer", Path(tmp) / "full"
        peer_dir.mkdir()
        full_dir.mkdir()
        peer_s, n, _ = asyncio.run(run(history(args.deliveries), routing.Router(), peer_dir))
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        full_s, n, actions = asyncio.run(run(history(args.deliveries), router, full_dir))
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"deliveries: {n}, actions: {actions}")
    print(f"peer (inbox + worker, no handlers): {n / peer_s:,.0f} deliveries/s")
    print(f"trunkwatch (tracker + store):      {n / full_s:,.0f} deliveries/s")
    print(f"ratio trunkwatch/peer: {peer_s / full_s:.2f}")
    print(f"peak RSS: {rss_after / 1024:,.0f} MiB (after the peer: {rss_before / 1024:,.0f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
