"""Missed deliveries recovered through GitHub's record of them (`GET /app/hook/deliveries`,
`POST /app/hook/deliveries/{id}/attempts`), and a graceful stop.

The simulated GitHub sends the deliveries itself (`sim.hooks.deliver`) and records every
attempt, so a delivery sent while the App was down is on record as failed, as on GitHub,
and a redelivery really comes to the App's webhook again.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import generate_latest

from bot.github import GitHubApp
from bot.handlers import EVENTS
from bot.runtime.recovery import LEASE, DeliveryRecovery
from bot.sim.devserver import free_port
from bot.sim.history import Generator, default_scenario
from bot.sim.simulated_github import SimulatedGitHub
from bot.store import open_store
from bot.store.base import Delivery, Store
from bot.tracker.model import CloseReason
from bot.web.metrics import Metrics
from bot.web.server import make_app
from tests.conftest import INSTALLATION_ID, ServeApp, inbox_drained
from tests.test_durability import DEFAULT_CONFIG, processed_log_counts
from tests.test_store import fresh_postgres

SECRET = "recovery-secret"
# A killed replica's claim on PostgreSQL is taken over once its lease runs out.
SHORT_LEASE = {"TRUNKWATCH_LEASE_SECONDS": "3"}


def payload(n: int) -> dict[str, Any]:
    return {
        "ref": "refs/heads/main",
        "repository": {"id": 1, "full_name": "o/r"},
        "installation": {"id": INSTALLATION_ID},
        "n": n,
    }


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'recovery.db'}")
    await store.open()
    yield store
    await store.close()


async def serve_webhook(store: Store, port: int) -> web.AppRunner:
    runner = web.AppRunner(make_app(SECRET, store, EVENTS))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def test_each_failed_delivery_is_asked_for_once_and_arrives_once(
    sim: SimulatedGitHub, github_app: GitHubApp, store: Store
) -> None:
    port = free_port()
    sim.hooks.configure(f"http://127.0.0.1:{port}/webhook", SECRET)
    # The App is down: five deliveries fail. One more is refused for good (a 4xx would be
    # refused again), and one reached the inbox though GitHub saw no answer.
    missed = [(await sim.hooks.deliver("push", payload(n))).guid for n in range(5)]
    stored_anyway = await sim.hooks.deliver("push", payload(5))
    await store.add_delivery(
        Delivery(stored_anyway.guid, "push", "o/r", INSTALLATION_ID, b"{}", time.time())
    )
    runner = await serve_webhook(store, port)
    try:
        refused = await sim.hooks.deliver("push", {"no": "repository"} | payload(6), guid="x")
        sim.hooks.attempts[-1].status_code = 400
        recovery = DeliveryRecovery(store, github_app.app_client, "replica-a")
        assert await recovery.run_once() == 5
        await sim.hooks.settle()
        for guid in missed:
            assert [a.status_code for a in sim.hooks.of(guid)] == [0, 202]
        assert len(sim.hooks.of(stored_anyway.guid)) == 1
        assert len(sim.hooks.of(refused.guid)) == 1
        assert await store.known_deliveries(missed) == set(missed)
        scraped = generate_latest(Metrics(recovery=lambda: recovery.counts).registry).decode()
        assert 'trunkwatch_redeliveries_requested_total{outcome="accepted"} 5.0' in scraped
        # Nothing is asked for twice: not by this replica, nor by another one later.
        sim.requests.clear()
        assert await recovery.run_once() == 0
        later = DeliveryRecovery(store, github_app.app_client, "replica-b")
        assert await later.run_once() == 0
        assert sim.requests_to("POST", "/app/hook/deliveries/*/attempts") == []
    finally:
        await runner.cleanup()


async def test_one_replica_scans_at_a_time(
    sim: SimulatedGitHub, github_app: GitHubApp, store: Store
) -> None:
    second = DeliveryRecovery(store, github_app.app_client, "replica-b")
    assert await store.take_lease(LEASE, "replica-a", time.time(), 90)  # replica-a mid-pass
    await second.run_once()
    assert (second.counts.passes, second.counts.skipped) == (0, 1)
    assert sim.requests_to("GET", "/app/hook/deliveries") == []
    first = DeliveryRecovery(store, github_app.app_client, "replica-a")
    await first.run_once()  # replica-a's pass ends, and hands the lease back
    await second.run_once()
    assert (first.counts.passes, second.counts.passes) == (1, 1)


async def test_a_redelivery_that_fails_again_is_asked_for_again(
    sim: SimulatedGitHub, github_app: GitHubApp, store: Store
) -> None:
    port = free_port()
    sim.hooks.configure(f"http://127.0.0.1:{port}/webhook", SECRET)
    guid = (await sim.hooks.deliver("push", payload(1))).guid
    recovery = DeliveryRecovery(store, github_app.app_client, "replica-a")
    assert await recovery.run_once() == 1
    await sim.hooks.settle()  # still down: the redelivery fails too
    runner = await serve_webhook(store, port)
    try:
        assert await recovery.run_once() == 1
        await sim.hooks.settle()
    finally:
        await runner.cleanup()
    assert [a.status_code for a in sim.hooks.of(guid)] == [0, 0, 202]
    assert await store.known_deliveries([guid]) == {guid}


def inbox_statuses(db: Path) -> Counter[str]:
    with sqlite3.connect(db) as conn:
        return Counter(row[0] for row in conn.execute("SELECT status FROM deliveries"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgresql":
        for backend in fresh_postgres():
            yield backend.dsn
    else:
        yield f"sqlite:///{tmp_path / 'trunkwatch.db'}"


async def test_an_outage_loses_nothing_deliveries_sent_meanwhile_are_recovered_once(
    sim: SimulatedGitHub, serve_app: ServeApp, database_url: str
) -> None:
    """`serve` is killed while GitHub is sending; everything sent until it is back fails.
    After the restart, recovery has each failed delivery sent again: all are processed,
    once, and the alerts are those of the run without an outage (the durability test's)."""
    scenario = default_scenario()
    scenario.installation_id = INSTALLATION_ID
    deliveries = list(Generator(scenario).deliveries())
    ids = [d["delivery_id"] for d in deliveries]
    sim.add_repo(scenario.repo, default_branch=scenario.branch)
    sim.set_file(scenario.repo, ".github/trunkwatch.yml", DEFAULT_CONFIG)
    serve = serve_app(SECRET, database_url=database_url, **SHORT_LEASE)
    log = serve.log_path
    sim.hooks.configure(f"{serve.url}/webhook", SECRET)
    await serve.start()
    down_from, up_from = len(deliveries) // 3, 2 * len(deliveries) // 3
    statuses: list[int] = []
    store = open_store(database_url)
    await store.open()
    try:
        for index, delivery in enumerate(deliveries):
            if index == down_from:
                serve.kill()
            if index == up_from:
                await serve.start()
            attempt = await sim.hooks.deliver(
                delivery["event"], delivery["payload"], guid=delivery["delivery_id"]
            )
            statuses.append(attempt.status_code)
        failed = [i for i, s in zip(ids, statuses, strict=True) if s != 202]
        assert len(failed) >= up_from - down_from  # the outage really lost them
        # The restart's first recovery pass has asked for them; wait until they are in.
        processed = await inbox_drained(store, ids, within=120.0)
        await sim.hooks.settle()
        alerts = [(a.alert, a.open, a.reason) for a in await store.load_alerts(scenario.repo)]
    finally:
        serve.stop()
        await store.close()
    assert set(processed.values()) == {"done"}, serve.log_tail()
    for guid in failed:  # each asked for once, and taken
        assert [a.status_code for a in sim.hooks.of(guid)][-1] == 202
        assert len(sim.hooks.of(guid)) == 2
    counts = processed_log_counts(log)
    assert max(counts.values()) == 1  # none processed twice
    # A delivery completed in the instant before the kill may miss its log line, no more.
    assert len(set(ids) - set(counts)) <= 1
    assert alerts == [(f"{scenario.repo}:main:inductor:1", False, CloseReason.RECOVERED)]
    asked = [line for line in log.read_text().splitlines() if "send a missed delivery" in line]
    assert len(asked) == len(failed)


async def test_sigterm_refuses_new_deliveries_finishes_the_one_in_hand_and_exits(
    sim: SimulatedGitHub, serve_app: ServeApp, tmp_path: Path
) -> None:
    scenario = default_scenario()
    scenario.installation_id = INSTALLATION_ID
    deliveries = list(Generator(scenario).deliveries())
    sim.add_repo(scenario.repo, default_branch=scenario.branch)
    sim.set_file(scenario.repo, ".github/trunkwatch.yml", DEFAULT_CONFIG)
    # Slow GitHub down so that a delivery is in hand when SIGTERM comes.
    sim.stall_next("GET", "/repos/*", seconds=1.0, times=3)
    serve = serve_app(SECRET, **SHORT_LEASE)
    log = serve.log_path
    await serve.start()
    assert serve.process is not None
    sim.hooks.configure(f"{serve.url}/webhook", SECRET)
    for delivery in deliveries[:6]:
        attempt = await sim.hooks.deliver(
            delivery["event"], delivery["payload"], guid=delivery["delivery_id"]
        )
        assert attempt.status_code == 202
    await asyncio.sleep(0.3)
    serve.process.send_signal(signal.SIGTERM)
    after = [await sim.hooks.deliver(d["event"], d["payload"]) for d in deliveries[6:8]]
    # The grace period (20 s) and then some; in a thread, so the simulated GitHub that
    # this loop serves goes on answering the delivery in hand.
    returncode = await asyncio.to_thread(serve.process.wait, 40)
    serve.stop()
    assert returncode == 0, serve.log_tail()
    # Refused while the delivery in hand is being finished (GitHub is slow to answer it),
    # then nobody listening.
    assert after[0].status_code == 503
    assert {a.status_code for a in after} <= {503, 0}
    statuses = inbox_statuses(tmp_path / "trunkwatch.db")
    assert statuses["processing"] == 0  # the delivery in hand was finished, not abandoned
    assert statuses["done"] >= 1
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(e.get("msg") == "stopped" for e in entries)
