"""Every intended effect is applied, even when GitHub has a bad day: the whole default story
(a breakage, its alert, the suspect PR, the recovery) run twice over real HTTP, once against
a healthy simulated GitHub and once against one that answers 10% of requests with a 5xx and
5% with a secondary rate limit. The issues, comments and labels must come out the same."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.process.service import running_service
from bot.process.settings import Settings
from bot.sim.devserver import free_port, post_delivery
from bot.sim.history import default_scenario
from bot.sim.simulated_github import SimulatedGitHub
from tests.conftest import APP_ID, FAST_RETRIES, INSTALLATION_ID, inbox_drained
from tests.test_end_to_end import Trunk
from tests.test_store import fresh_postgres

SECRET = "faults-secret"
# Wall-clock times in bodies (when an alert was filed) differ from run to run.
_CLOCK = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d)?( UTC|Z)?")


def what_github_shows(sim: SimulatedGitHub, repo: str) -> list[Any]:
    """Every issue and PR: title, state, labels, assignees, and its comments."""
    return [
        (
            issue.number,
            issue.title,
            issue.state,
            issue.state_reason,
            sorted(issue.labels),
            sorted(issue.assignees),
            _CLOCK.sub("<time>", issue.body or "") if issue.pull is None else "",
            [_CLOCK.sub("<time>", body) for body in sim.comments(repo, issue.number)],
        )
        for issue in sim.issues(repo, include_pulls=True)
    ]


async def run_story(
    app_key: str, database_url: str, *, faults: bool, seed: int = 0
) -> tuple[list[Any], int]:
    """The default story through the App; what GitHub shows after it, and the faults met."""
    sim = SimulatedGitHub(app_id=APP_ID, app_key=app_key)
    sim.add_installation(INSTALLATION_ID)
    await sim.start()
    trunk = Trunk(sim, default_scenario())
    if faults:
        sim.inject_faults(server_errors=0.10, secondary_limits=0.05, seed=seed)
    settings = Settings(
        app_id=str(APP_ID),
        private_key=app_key,
        webhook_secret=SECRET,
        api_url=sim.base_url,
        database_url=database_url,
        host="127.0.0.1",
        port=free_port(),
        log_level="error",
    )
    try:
        async with (
            running_service(
                settings, policy=FAST_RETRIES, retry_base=0.01, max_retry_delay=0.1
            ) as service,
            aiohttp.ClientSession() as session,
        ):
            url = f"http://127.0.0.1:{settings.port}"
            for delivery in trunk.history.deliveries():
                assert await post_delivery(session, url, SECRET, delivery) == 202
            await inbox_drained(service.store, within=120)
            assert await service.store.dead_deliveries() == []
            stats = service.github.stats.items()
            met = sum(count for key, count in stats if key.status in (403, 500, 502, 503))
        return what_github_shows(sim, trunk.repo), met
    finally:
        await sim.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two fresh databases of one kind: for the healthy run and for the faulty one."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'healthy.db'}", f"sqlite:///{tmp_path / 'faults.db'}"
        return
    for healthy in fresh_postgres():
        for faulty in fresh_postgres():
            yield healthy.dsn, faulty.dsn


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_faults_change_nothing_in_the_issues_comments_and_labels(
    app_key: str, databases: tuple[str, str], seed: int
) -> None:
    healthy_db, faulty_db = databases
    healthy, none = await run_story(app_key, healthy_db, faults=False)
    faulty, met = await run_story(app_key, faulty_db, faults=True, seed=seed)
    assert none == 0
    assert met >= 3  # the faults really were met (the story makes about 40 calls)
    assert [issue for issue in healthy if issue[4] or issue[7]]  # the story did something
    assert faulty == healthy


async def test_an_effect_github_keeps_refusing_is_shown_as_failed_not_dropped_silently(
    app_key: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sim = SimulatedGitHub(app_id=APP_ID, app_key=app_key)
    sim.add_installation(INSTALLATION_ID)
    await sim.start()
    trunk = Trunk(sim, default_scenario())
    sim.fail_next("POST", f"/repos/{trunk.repo}/issues", 502, times=1000)  # never filed
    settings = Settings(
        app_id=str(APP_ID),
        private_key=app_key,
        webhook_secret=SECRET,
        api_url=sim.base_url,
        database_url=f"sqlite:///{tmp_path / 'refused.db'}",
        host="127.0.0.1",
        port=free_port(),
        log_level="error",
    )
    try:
        async with (
            running_service(
                settings, policy=FAST_RETRIES, retry_base=0.01, max_transient_attempts=3
            ) as service,
            aiohttp.ClientSession() as session,
        ):
            url = f"http://127.0.0.1:{settings.port}"
            for delivery in trunk.history.deliveries():
                await post_delivery(session, url, SECRET, delivery)
            deadline = time.monotonic() + 60
            while not await service.store.dead_deliveries():
                assert time.monotonic() < deadline, "nothing was given up on"
                await asyncio.sleep(0.05)
            async with session.get(f"{url}/metrics") as response:
                scraped = await response.text()
    finally:
        await sim.stop()
    dead = re.search(r'trunkwatch_delivery_failures_total\{outcome="dead"\} (\S+)', scraped)
    assert dead is not None and float(dead.group(1)) >= 1
    assert any("its effects are not applied" in r.getMessage() for r in caplog.records)
