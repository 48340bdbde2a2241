"""Two `trunkwatch serve` replicas on one PostgreSQL database, behind an imaginary load
balancer: deliveries posted alternately to both (some to both, as GitHub redeliveries), one
replica killed mid-stream. The result is what one process files: one alert issue, one comment
and one label per suspect PR, nothing lost."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import aiohttp
import pytest

from bot.sim.history import default_scenario
from bot.sim.simulated_github import SimulatedGitHub
from bot.store import open_store
from tests.conftest import ServeApp
from tests.test_end_to_end import SECRET, Trunk, assert_one_of_each_after_crash
from tests.test_store import PostgresBackend, fresh_postgres

LEASE_SECONDS = 2


@pytest.fixture
def database() -> Iterator[PostgresBackend]:
    yield from fresh_postgres()


async def test_two_replicas_one_killed_file_what_one_process_files(
    sim: SimulatedGitHub, serve_app: ServeApp, database: PostgresBackend
) -> None:
    trunk = Trunk(sim, default_scenario())
    deliveries = trunk.deliveries(*range(trunk.scenario.commits))
    replicas = [
        serve_app(
            SECRET,
            database_url=database.dsn,
            name=f"replica-{n}",
            TRUNKWATCH_LEASE_SECONDS=str(LEASE_SECONDS),
        )
        for n in (0, 1)
    ]
    await asyncio.gather(*(r.start() for r in replicas))
    kill_at = len(deliveries) // 2
    unanswered = []
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            for i, delivery in enumerate(deliveries):
                alive = [r for r in replicas if r.process and r.process.poll() is None]
                target = alive[i % len(alive)]
                if i == kill_at:
                    # The first replica dies while it may hold a claim: its lease must expire
                    # and the other replica finish the work.
                    task = asyncio.create_task(replicas[0].post(session, delivery))
                    await asyncio.sleep(0.01)
                    replicas[0].kill()
                    if await task not in (200, 202):
                        unanswered.append(delivery)
                    continue
                status = await target.post(session, delivery)
                assert status in (200, 202), (delivery["delivery_id"], status)
                if i % 7 == 0:  # GitHub redelivers this one, and it lands on the other replica
                    other = alive[(i + 1) % len(alive)]
                    assert await other.post(session, delivery) in (200, 202)
            survivor = replicas[1]
            for delivery in unanswered:  # what the killed replica never answered, redelivered
                assert await survivor.post(session, delivery) in (200, 202)
        await survivor.drained([d["delivery_id"] for d in deliveries])
    finally:
        for replica in replicas:
            replica.stop()
    assert replicas[0].process is not None and replicas[0].process.returncode == -9
    assert_one_of_each_after_crash(trunk)
    store = open_store(database.dsn)
    await store.open()
    try:
        alerts = await store.load_alerts(trunk.repo)
        assert [(a.alert, a.open, a.reason and a.reason.value) for a in alerts] == [
            (f"{trunk.repo}:main:inductor:1", False, "recovered")
        ]
        for delivery in deliveries:
            stored = await store.get_delivery(delivery["delivery_id"])
            assert stored is not None and stored.status.value == "done", delivery["delivery_id"]
    finally:
        await store.close()
    # Both replicas did part of the work.
    for replica in replicas:
        assert "delivery processed" in replica.log_path.read_text()
