"""The status page of one repository with a long history, as another replica sees it (the
first view after the store changed rebuilds the tracker from the store; the views after it are
cached until the repository's version moves) and as the replica that did the work sees it
(its engine's own tracker).

    python bench/status_page.py [--commits 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.config import load_default
from bot.engine import Engine, Unit
from bot.events import parse_push, parse_workflow_job
from bot.runtime.replay import FixedConfig
from bot.sim.history import Generator, Scenario
from bot.store import open_store
from bot.store.base import Installation, Store
from bot.web.status_page import add_status_routes
from bot.web.status_views import PageConfig

REPO = "pytorch/pytorch"


async def fill(store: Store, commits: int) -> Engine:
    """A generated history through the engine into the store, as the worker commits it."""
    config = load_default()
    engine = Engine(store, FixedConfig(config))
    for delivery in Generator(Scenario(repo=REPO, commits=commits)).deliveries():
        unit = Unit(delivery["delivery_id"])
        if delivery["event"] == "push":
            push = parse_push(delivery["payload"], unit.delivery_id)
            if push is not None:
                await engine.push(None, push.push, "main", unit)
        elif delivery["event"] == "workflow_job":
            job = parse_workflow_job(delivery["payload"], unit.delivery_id)
            await engine.results(None, REPO, "main", [job.result], unit)
        await store.save_changes(unit.changes)
        engine.committed(unit)
    return engine


async def main(commits: int, views: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/bench.db")
        await store.open()
        await store.save_installation(Installation(7, "pytorch", (REPO,)))
        started = time.perf_counter()
        engine = await fill(store, commits)
        results = len(await store.load_results(REPO))
        took = time.perf_counter() - started
        print(f"{commits} commits, {results} job results stored in {took:.1f} s")
        config = PageConfig.of(load_default(), "main")

        async def configs(repo: str) -> PageConfig:
            return config

        for label, live in (("another replica", None), ("the working replica", engine)):
            app = web.Application()
            add_status_routes(
                app,
                configs=configs,
                store=store,
                token=None,
                enabled=True,
                public=True,
                live=live.loaded_at if live is not None else None,
            )
            client = TestClient(TestServer(app))
            await client.start_server()
            try:
                timings = []
                for _ in range(views):
                    started = time.perf_counter()
                    response = await client.get(f"/{REPO}/")
                    body = await response.read()
                    assert response.status == 200
                    timings.append((time.perf_counter() - started) * 1000)
            finally:
                await client.close()
            rest = sorted(timings[1:])
            print(
                f"{label}: first view {timings[0]:.0f} ms, then median {rest[len(rest) // 2]:.0f}"
                f" ms, max {rest[-1]:.0f} ms ({len(body) // 1024} KiB)"
            )
        await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--views", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.commits, args.views))
