"""The status page and the open-alerts gauge read the store: `serve` restarted with an alert
open shows it at once, and two replicas show the same page. The installations come from
GitHub's listing, so no `installation` event is needed for a repository to appear."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator

import aiohttp
import pytest

from bot.sim.history import default_scenario
from bot.sim.simulated_github import SimulatedGitHub
from tests.conftest import ServeApp, ServedApp
from tests.test_end_to_end import SECRET, Trunk
from tests.test_store import PostgresBackend, fresh_postgres

TOKEN = "page-token-31c9"
STATUS_ENV = {"TRUNKWATCH_STATUS_TOKEN": TOKEN, "TRUNKWATCH_METRICS_REPOS": "on"}
BROKEN_AT = 9  # commits 0…9: the inductor alert is open (it recovers at 10)


@pytest.fixture
def database() -> Iterator[PostgresBackend]:
    yield from fresh_postgres()


async def page(session: aiohttp.ClientSession, url: str, within: float = 30.0) -> str:
    """The page once it answers 200 (the installations are synced just after startup)."""
    deadline = time.monotonic() + within
    while True:
        async with session.get(url, params={"token": TOKEN}) as response:
            text = await response.text()
            if response.status == 200 or time.monotonic() > deadline:
                assert response.status == 200, text
                return text
        await asyncio.sleep(0.1)


def without_clock(html: str) -> str:
    return re.sub(r"Updated [^;]+;", "Updated …;", html)


async def feed(session: aiohttp.ClientSession, app: ServedApp, trunk: Trunk) -> None:
    """Commits 0…BROKEN_AT, each delivery processed without error."""
    deliveries = trunk.deliveries(*range(BROKEN_AT + 1))
    for delivery in deliveries:
        assert await app.post(session, delivery) in (200, 202)
    statuses = await app.drained([d["delivery_id"] for d in deliveries])
    assert set(statuses.values()) == {"done"}


async def test_a_restarted_serve_shows_the_open_alert_at_once(
    sim: SimulatedGitHub, serve_app: ServeApp
) -> None:
    trunk = Trunk(sim, default_scenario())
    first = serve_app(SECRET, name="first", **STATUS_ENV)
    await first.start()
    async with aiohttp.ClientSession() as session:
        await feed(session, first, trunk)
    first.stop()
    (issue,) = trunk.alert_issues()

    second = serve_app(SECRET, name="second", **STATUS_ENV)
    await second.start()
    try:
        async with aiohttp.ClientSession() as session:
            repo_page = await page(session, f"{second.url}/{trunk.repo}/")
            index = await page(session, f"{second.url}/")
            async with session.get(f"{second.url}/metrics") as response:
                metrics = await response.text()
            async with session.get(f"{second.url}/{trunk.repo}/") as response:
                assert response.status == 401  # private by default
    finally:
        second.stop()
    assert 'data-group="inductor" data-state="broken"' in repo_page
    assert f"/issues/{issue.number}" in repo_page
    assert "✗ 1 broken" in index
    assert (
        f'trunkwatch_open_alerts{{branch="main",group="inductor",repo="{trunk.repo}"}} 1.0'
        in metrics
    )


async def test_two_replicas_show_the_same_page(
    sim: SimulatedGitHub, serve_app: ServeApp, database: PostgresBackend
) -> None:
    trunk = Trunk(sim, default_scenario())
    replicas = [
        serve_app(SECRET, database_url=database.dsn, name=f"replica-{n}", **STATUS_ENV)
        for n in (0, 1)
    ]
    await asyncio.gather(*(r.start() for r in replicas))
    try:
        async with aiohttp.ClientSession() as session:
            await feed(session, replicas[0], trunk)  # one replica did all the work
            pages = [await page(session, f"{r.url}/{trunk.repo}") for r in replicas]
            indexes = [await page(session, f"{r.url}/") for r in replicas]
    finally:
        for replica in replicas:
            replica.stop()
    assert 'data-group="inductor" data-state="broken"' in pages[1]
    assert without_clock(pages[0]) == without_clock(pages[1])
    assert without_clock(indexes[0]) == without_clock(indexes[1])
